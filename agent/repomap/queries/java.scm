; Definitions
(class_declaration name: (identifier) @def.name) @def
(interface_declaration name: (identifier) @def.name) @def
(enum_declaration name: (identifier) @def.name) @def
(record_declaration name: (identifier) @def.name) @def
(annotation_type_declaration name: (identifier) @def.name) @def
(method_declaration name: (identifier) @def.name) @def
(constructor_declaration name: (identifier) @def.name) @def

; References
(method_invocation name: (identifier) @ref.name)
(object_creation_expression type: (type_identifier) @ref.name)
(superclass (type_identifier) @ref.name)
(super_interfaces (type_list (type_identifier) @ref.name))
(type_identifier) @ref.name
