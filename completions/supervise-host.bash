# bash completion for supervise-host(8). Installed as
# share/bash-completion/completions/supervise-host (loaded on first use).

_supervise_host() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    case $prev in
        -c | --configuration)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
            ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W '-c --configuration -n --nodaemon -s --silent
        --check --json -v --version -h --help' -- "$cur")
    return 0
}
complete -F _supervise_host supervise-host
