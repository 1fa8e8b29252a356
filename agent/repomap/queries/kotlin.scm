; Definitions
(class_declaration (type_identifier) @def.name) @def
(object_declaration (type_identifier) @def.name) @def
(function_declaration (simple_identifier) @def.name) @def
(type_alias (type_identifier) @def.name) @def

; References
(call_expression (simple_identifier) @ref.name)
(call_expression (navigation_expression (navigation_suffix (simple_identifier) @ref.name)))
(delegation_specifier (user_type (type_identifier) @ref.name))
(delegation_specifier (constructor_invocation (user_type (type_identifier) @ref.name)))
(user_type (type_identifier) @ref.name)
