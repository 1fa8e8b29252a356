; Definitions
(function_definition declarator: (function_declarator declarator: [(identifier) (field_identifier)] @def.name)) @def
(function_definition declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @def.name))) @def
(function_definition declarator: (reference_declarator (function_declarator declarator: [(identifier) (field_identifier)] @def.name))) @def
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: [(identifier) (field_identifier)] @def.name))) @def
(field_declaration declarator: (function_declarator declarator: (field_identifier) @def.name)) @def
(declaration declarator: (function_declarator declarator: (identifier) @def.name)) @def
(class_specifier name: (type_identifier) @def.name body: (_)) @def
(struct_specifier name: (type_identifier) @def.name body: (_)) @def
(union_specifier name: (type_identifier) @def.name body: (_)) @def
(enum_specifier name: (type_identifier) @def.name body: (_)) @def
(type_definition declarator: (type_identifier) @def.name) @def
(alias_declaration name: (type_identifier) @def.name) @def
(namespace_definition name: (namespace_identifier) @def.name) @def
(preproc_function_def name: (identifier) @def.name) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (field_expression field: (field_identifier) @ref.name))
(call_expression function: (qualified_identifier name: (identifier) @ref.name))
(type_identifier) @ref.name
