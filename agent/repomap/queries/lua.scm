; Definitions
(function_declaration name: (identifier) @def.name) @def
(function_declaration name: (dot_index_expression field: (identifier) @def.name)) @def
(function_declaration name: (method_index_expression method: (identifier) @def.name)) @def
(assignment_statement (variable_list name: (identifier) @def.name) (expression_list value: (function_definition))) @def

; References
(function_call name: (identifier) @ref.name)
(function_call name: (dot_index_expression field: (identifier) @ref.name))
(function_call name: (method_index_expression method: (identifier) @ref.name))
