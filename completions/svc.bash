# bash completion for svc(8). Installed as
# share/bash-completion/completions/svc (loaded on first use).
#
# Completes control letters (svc -dx), commands, status directories, and the
# host's process names (svc restart web), which it asks svc itself for: the names
# from `svc [-c FILE] status`, their groups as GROUP:*, and all. Silent on errors.

# The host's process names, groups and `all`, one a line. $1: svc, $2: the config
# given with -c (empty: where svc looks).
_svc_host_names() {
    local name state rest
    local -a cmd=("$1")
    local -A seen=()
    [[ -n $2 ]] && cmd+=(-c "$2")
    if command -v timeout >/dev/null 2>&1; then
        cmd=(timeout 2 "${cmd[@]}")
    fi
    while read -r name state rest; do
        case $state in
            STARTING | RUNNING | BACKOFF | STOPPING | STOPPED | EXITED | FATAL | UNKNOWN) ;;
            *) continue ;;
        esac
        seen[$name]=1
        [[ $name == *:* ]] && seen["${name%%:*}:*"]=1
    done < <("${cmd[@]}" status 2>/dev/null </dev/null)
    ((${#seen[@]})) && printf '%s\n' "${!seen[@]}" all
}

_svc() {
    local line cur svc config='' i
    local -a words replies=()
    local letters='u d o p c x h a i t k q 1 2 s n r w T'

    # Words as typed, split on blanks only (names hold a colon, which bash's own
    # COMP_WORDS splits at).
    line=${COMP_LINE:0:COMP_POINT}
    read -ra words <<<"$line"
    if [[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]]; then
        cur=
    else
        cur=${words[${#words[@]} - 1]}
        unset 'words[${#words[@]}-1]'
    fi
    svc=${words[0]:-svc}
    svc=${svc/#\~/$HOME}
    words=("${words[@]:1}")

    # svc -c FILE ...: by name only.
    if [[ ${words[0]} == -c || ${words[0]} == --configuration ]]; then
        if ((${#words[@]} == 1)); then
            compopt -o filenames 2>/dev/null
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return 0
        fi
        config=${words[1]/#\~/$HOME}
        words=("${words[@]:2}")
    fi

    local n=${#words[@]} first=${words[0]} prev=
    ((n)) && prev=${words[n - 1]}
    local dirs=0 names=0

    if ((n == 0)); then
        if [[ -z $config && $cur == -* ]]; then
            if [[ $cur == - || $cur == --* ]]; then
                replies+=(--configuration --help --version --wait --timeout)
            fi
            if [[ $cur =~ ^-[udopcxhaitkq12snr]*$ ]]; then
                for i in $letters; do replies+=("$cur$i"); done
            fi
        elif [[ -n $config ]]; then
            replies=(status pid start stop restart signal tail update reread avail shutdown)
        else
            replies=(status pid ok wait help start stop restart signal tail update reread
                avail shutdown)
            dirs=1
        fi
    else
        case $first in
            -*)
                case $prev in
                    -w | --wait | -*w) replies=(up down restart ready) ;;
                    -T | --timeout | -*T) ;;
                    *)
                        if [[ $cur == -* ]]; then
                            replies=(-w -T --wait --timeout)
                        else
                            dirs=1
                        fi
                        ;;
                esac
                ;;
            status)
                if [[ $cur == -* ]]; then
                    replies=(--json --prom)
                else
                    [[ -z $config ]] && dirs=1
                    names=1
                fi
                ;;
            pid)
                [[ -z $config ]] && dirs=1
                names=1
                ;;
            ok) dirs=1 ;;
            wait)
                if ((n == 1)); then
                    replies=(up down restart ready)
                elif [[ $prev == -T || $prev == --timeout ]]; then
                    :
                elif [[ $cur == -* ]]; then
                    replies=(-T --timeout)
                else
                    dirs=1
                fi
                ;;
            start | stop | restart) names=1 ;;
            signal)
                if ((n == 1)); then
                    replies=(HUP INT QUIT KILL USR1 USR2 TERM ALRM STOP CONT)
                else
                    names=1
                fi
                ;;
            tail)
                local named=0
                for ((i = 1; i < n; i++)); do
                    case ${words[i]} in
                        -n) i=$((i + 1)) ;;
                        -*) ;;
                        *) named=1 ;;
                    esac
                done
                if [[ $prev == -n ]]; then
                    :
                elif [[ $cur == -* ]]; then
                    replies=(-f -n)
                elif ((named)); then
                    replies=(stdout stderr)
                else
                    names=1
                fi
                ;;
            update | reread | avail | shutdown | help) ;;
            *)
                # The legacy form: svc DIR VERB [on|off].
                if ((n == 1)); then
                    replies=(status start stop restart exit reconf alarm)
                elif ((n == 2)) && [[ ${words[1]} == alarm ]]; then
                    replies=(on off)
                fi
                ;;
        esac
    fi

    if ((names)) && [[ $cur != */* ]]; then
        mapfile -t -O ${#replies[@]} replies < <(_svc_host_names "$svc" "$config")
    fi
    COMPREPLY=()
    for i in "${replies[@]}"; do
        [[ $i == "$cur"* ]] && COMPREPLY+=("$i")
    done
    if ((dirs)); then
        compopt -o filenames 2>/dev/null
        mapfile -t -O ${#COMPREPLY[@]} COMPREPLY < <(compgen -d -- "$cur")
    fi
    # Bash replaces only what follows the last colon of the word.
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local colon_prefix=${cur%"${cur##*:}"}
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon_prefix"}
        done
    fi
    return 0
}
complete -F _svc svc
