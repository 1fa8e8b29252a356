; Definitions
(class_declaration name: (type_identifier) @def.name) @def
(protocol_declaration name: (type_identifier) @def.name) @def
(function_declaration name: (simple_identifier) @def.name) @def
(protocol_function_declaration name: (simple_identifier) @def.name) @def
(typealias_declaration name: (type_identifier) @def.name) @def

; References
(call_expression (simple_identifier) @ref.name)
(call_expression (navigation_expression suffix: (navigation_suffix suffix: (simple_identifier) @ref.name)))
(inheritance_specifier inherits_from: (user_type (type_identifier) @ref.name))
(user_type (type_identifier) @ref.name)
