; Definitions
(class_declaration name: (identifier) @def.name) @def
(function_declaration name: (identifier) @def.name) @def
(generator_function_declaration name: (identifier) @def.name) @def
(method_definition name: (property_identifier) @def.name) @def
(lexical_declaration (variable_declarator name: (identifier) @def.name value: [(arrow_function) (function_expression) (class)])) @def
(variable_declaration (variable_declarator name: (identifier) @def.name value: [(arrow_function) (function_expression) (class)])) @def
(assignment_expression left: (member_expression property: (property_identifier) @def.name) right: [(arrow_function) (function_expression)]) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (member_expression property: (property_identifier) @ref.name))
(new_expression constructor: (identifier) @ref.name)
(class_heritage (identifier) @ref.name)
(import_specifier name: (identifier) @ref.name)
