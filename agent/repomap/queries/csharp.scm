; Definitions
(class_declaration name: (identifier) @def.name) @def
(interface_declaration name: (identifier) @def.name) @def
(struct_declaration name: (identifier) @def.name) @def
(record_declaration name: (identifier) @def.name) @def
(enum_declaration name: (identifier) @def.name) @def
(method_declaration name: (identifier) @def.name) @def
(constructor_declaration name: (identifier) @def.name) @def
(property_declaration name: (identifier) @def.name) @def
(namespace_declaration name: (_) @def.name) @def

; References
(invocation_expression function: (identifier) @ref.name)
(invocation_expression function: (member_access_expression name: (identifier) @ref.name))
(object_creation_expression type: (identifier) @ref.name)
(base_list (identifier) @ref.name)
(variable_declaration type: (identifier) @ref.name)
