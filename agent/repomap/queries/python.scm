; Definitions: classes, functions and module-level names assigned once.
(class_definition name: (identifier) @def.name) @def
(function_definition name: (identifier) @def.name) @def
(module (assignment left: (identifier) @def.name) @def)

; References: calls, attribute reads, base classes, decorators, imported names.
(call function: (identifier) @ref.name)
(attribute attribute: (identifier) @ref.name)
(decorator (identifier) @ref.name)
(import_from_statement name: (dotted_name (identifier) @ref.name))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @ref.name)))
(type (identifier) @ref.name)
(class_definition superclasses: (argument_list (identifier) @ref.name))
