# fish completion for supervise(8). Installed as
# share/fish/vendor_completions.d/supervise.fish.

complete -c supervise -s p -r -a '(__fish_complete_directories)' -d 'The status directory'
complete -c supervise -s f -x -a '(__fish_complete_command)' -d 'The command as one string'
complete -c supervise -s u -r -a '(__fish_complete_directories)' -d 'The status directory, then the command as words'
complete -c supervise -s F -r -F -d 'Config file (default: supervise.conf)'
complete -c supervise -s r -r -F -d 'Run SCRIPT N after each exit of the service'
complete -c supervise -s t -x -d 'Exits at least SECS apart start the count N again at 1'
complete -c supervise -s n -l foreground -d 'Stay attached: do not daemonize'
complete -c supervise -l watch -r -F -d 'Restart the service when PATH changes'
complete -c supervise -l down -d 'Start with the service wanted down'
complete -c supervise -l subreaper -d "Stay in the foreground, exit with the service's exit code"
complete -c supervise -s v -l version -d 'Print the version'
complete -c supervise -s h -l help -d 'Print the help'
