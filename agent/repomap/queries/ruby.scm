; Definitions
(class name: [(constant) (scope_resolution)] @def.name) @def
(module name: [(constant) (scope_resolution)] @def.name) @def
(method name: (_) @def.name) @def
(singleton_method name: (_) @def.name) @def
(call method: (identifier) @_attr arguments: (argument_list (simple_symbol) @def.name) (#match? @_attr "^attr_(reader|writer|accessor)$")) @def

; References
(call method: (identifier) @ref.name)
(superclass (constant) @ref.name)
(scope_resolution name: (constant) @ref.name)
