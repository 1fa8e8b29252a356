; Definitions
(function_item name: (identifier) @def.name) @def
(function_signature_item name: (identifier) @def.name) @def
(struct_item name: (type_identifier) @def.name) @def
(enum_item name: (type_identifier) @def.name) @def
(union_item name: (type_identifier) @def.name) @def
(trait_item name: (type_identifier) @def.name) @def
(type_item name: (type_identifier) @def.name) @def
(mod_item name: (identifier) @def.name) @def
(macro_definition name: (identifier) @def.name) @def
(const_item name: (identifier) @def.name) @def
(static_item name: (identifier) @def.name) @def

; References
(call_expression function: (identifier) @ref.name)
(call_expression function: (field_expression field: (field_identifier) @ref.name))
(call_expression function: (scoped_identifier name: (identifier) @ref.name))
(macro_invocation macro: (identifier) @ref.name)
(type_identifier) @ref.name
