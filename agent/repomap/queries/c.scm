; Definitions
(function_definition declarator: (function_declarator declarator: (identifier) @def.name)) @def
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @def.name))) @def
(declaration declarator: (function_declarator declarator: (identifier) @def.name)) @def
(struct_specifier name: (type_identifier) @def.name body: (_)) @def
(union_specifier name: (type_identifier) @def.name body: (_)) @def
(enum_specifier name: (type_identifier) @def.name body: (_)) @def
(type_definition declarator: (type_identifier) @def.name) @def
(preproc_function_def name: (identifier) @def.name) @def
(preproc_def name: (identifier) @def.name) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (field_expression field: (field_identifier) @ref.name))
(type_identifier) @ref.name
