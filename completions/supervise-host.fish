# fish completion for supervise-host(8). Installed as
# share/fish/vendor_completions.d/supervise-host.fish.

complete -c supervise-host -s c -l configuration -r -F -d 'The supervisord config'
complete -c supervise-host -s n -l nodaemon -d 'Stay in the foreground'
complete -c supervise-host -s s -l silent -d 'No log lines on stdout in the foreground'
complete -c supervise-host -l check -d 'Read the config, say every error, or list the processes'
complete -c supervise-host -l json -d 'With --check: one JSON array'
complete -c supervise-host -s v -l version -d 'Print the version'
complete -c supervise-host -s h -l help -d 'Print the help'
