; Definitions
(class_declaration name: (name) @def.name) @def
(interface_declaration name: (name) @def.name) @def
(trait_declaration name: (name) @def.name) @def
(enum_declaration name: (name) @def.name) @def
(function_definition name: (name) @def.name) @def
(method_declaration name: (name) @def.name) @def

; References
(function_call_expression function: (name) @ref.name)
(function_call_expression function: (qualified_name (name) @ref.name))
(member_call_expression name: (name) @ref.name)
(scoped_call_expression name: (name) @ref.name)
(object_creation_expression (name) @ref.name)
(object_creation_expression (qualified_name (name) @ref.name))
(base_clause (name) @ref.name)
(class_interface_clause (name) @ref.name)
