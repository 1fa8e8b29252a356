; Definitions
(class_definition name: (identifier) @def.name) @def
(object_definition name: (identifier) @def.name) @def
(trait_definition name: (identifier) @def.name) @def
(enum_definition name: (identifier) @def.name) @def
(function_definition name: (identifier) @def.name) @def
(function_declaration name: (identifier) @def.name) @def
(type_definition name: (type_identifier) @def.name) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (field_expression field: (identifier) @ref.name))
(instance_expression (type_identifier) @ref.name)
(extends_clause type: (type_identifier) @ref.name)
(type_identifier) @ref.name
