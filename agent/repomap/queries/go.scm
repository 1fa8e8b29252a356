; Definitions
(function_declaration name: (identifier) @def.name) @def
(method_declaration name: (field_identifier) @def.name) @def
(type_spec name: (type_identifier) @def.name) @def
(method_elem name: (field_identifier) @def.name) @def
(source_file (const_declaration (const_spec name: (identifier) @def.name) @def))
(source_file (var_declaration (var_spec name: (identifier) @def.name) @def))

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (selector_expression field: (field_identifier) @ref.name))
(type_identifier) @ref.name
(qualified_type name: (type_identifier) @ref.name)
