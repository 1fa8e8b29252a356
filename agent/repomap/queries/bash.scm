; Definitions
(function_definition name: (word) @def.name) @def

; References: the command a line runs
(command name: (command_name (word) @ref.name))
