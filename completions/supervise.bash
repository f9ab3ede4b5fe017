# bash completion for supervise(8). Installed as
# share/bash-completion/completions/supervise (loaded on first use).

_supervise() {
    local cur prev i word command_words=0 options_done=0
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}

    # The command's words: those that are not options nor option values (after --,
    # everything).
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if ((options_done)); then
            command_words=$((command_words + 1))
            continue
        fi
        case $word in
            --) options_done=1 ;;
            -p | -u | -f | -F | -r | -t | --watch) i=$((i + 1)) ;;
            -*) ;;
            *) command_words=$((command_words + 1)) ;;
        esac
    done

    case $prev in
        -p | -u)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            return 0
            ;;
        -F | -r | --watch)
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
            ;;
        -f)
            mapfile -t COMPREPLY < <(compgen -c -- "$cur")
            return 0
            ;;
        -t)
            return 0
            ;;
    esac

    if [[ $cur == -* ]] && ((!options_done)); then
        mapfile -t COMPREPLY < <(compgen -W '-p -f -u -F -r -t -n --foreground
            --watch --down --subreaper -v --version -h --help' -- "$cur")
    elif ((command_words == 0)); then
        mapfile -t COMPREPLY < <(compgen -c -- "$cur")
    else
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
    return 0
}
complete -F _supervise supervise
