; Definitions
(class_declaration name: (type_identifier) @def.name) @def
(abstract_class_declaration name: (type_identifier) @def.name) @def
(interface_declaration name: (type_identifier) @def.name) @def
(type_alias_declaration name: (type_identifier) @def.name) @def
(enum_declaration name: (identifier) @def.name) @def
(function_declaration name: (identifier) @def.name) @def
(generator_function_declaration name: (identifier) @def.name) @def
(method_definition name: (property_identifier) @def.name) @def
(method_signature name: (property_identifier) @def.name) @def
(abstract_method_signature name: (property_identifier) @def.name) @def
(internal_module name: (identifier) @def.name) @def
(lexical_declaration (variable_declarator name: (identifier) @def.name value: [(arrow_function) (function_expression) (class)])) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (member_expression property: (property_identifier) @ref.name))
(new_expression constructor: (identifier) @ref.name)
(type_annotation (type_identifier) @ref.name)
(generic_type name: (type_identifier) @ref.name)
(extends_clause value: (identifier) @ref.name)
(implements_clause (type_identifier) @ref.name)
(import_specifier name: (identifier) @ref.name)
