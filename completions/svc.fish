# fish completion for svc(8). Installed as
# share/fish/vendor_completions.d/svc.fish.
#
# Control letters (svc -dx), commands, status directories, and the host's process
# names, asked of svc itself at completion time (`svc [-c FILE] status`: the name is
# the first word of each line), with their groups as GROUP:* and `all`. Silent on
# errors.

# The config given with -c FILE as the first word, if any.
function __svc_config
    set -l w (commandline -opc)
    if test (count $w) -ge 3; and contains -- $w[2] -c --configuration
        echo $w[3]
    end
end

# What the word being completed is: first, first-host, letters, goal, dirs, status,
# pid, names, signal, tail, stream, legacy, alarm, file or none.
function __svc_state
    set -l w (commandline -opc)
    set -e w[1]
    set -l host 0
    if contains -- "$w[1]" -c --configuration
        if test (count $w) -eq 1
            echo file
            return
        end
        set -e w[1..2]
        set host 1
    end
    set -l n (count $w)
    if test $n -eq 0
        if test $host -eq 1
            echo first-host
        else
            echo first
        end
        return
    end
    switch $w[1]
        case '-*'
            switch $w[-1]
                case -w --wait '-*w'
                    echo goal
                case -T --timeout '-*T'
                    echo none
                case '*'
                    echo letters
            end
        case status
            echo status
        case pid
            echo pid
        case ok
            echo dirs
        case wait
            if test $n -eq 1
                echo goal
            else if contains -- $w[-1] -T --timeout
                echo none
            else
                echo wait
            end
        case start stop restart
            echo names
        case signal
            if test $n -eq 1
                echo signal
            else
                echo names
            end
        case tail
            set -l named 0
            set -l skip 0
            for a in $w[2..-1]
                if test $skip -eq 1
                    set skip 0
                    continue
                end
                switch $a
                    case -n
                        set skip 1
                    case '-*'
                    case '*'
                        set named 1
                end
            end
            if test "$w[-1]" = -n
                echo none
            else if test $named -eq 1
                echo stream
            else
                echo tail
            end
        case update reread avail shutdown help
            echo none
        case '*'
            # The legacy form: svc DIR VERB [on|off].
            if test $n -eq 1
                echo legacy
            else if test $n -eq 2; and test "$w[2]" = alarm
                echo alarm
            else
                echo none
            end
    end
end

function __svc_is
    contains -- (__svc_state) $argv
end

# The host's processes, their groups as GROUP:*, and all.
function __svc_names
    set -l svc (commandline -opc)[1]
    set -l cmd $svc
    set -l config (__svc_config)
    if test -n "$config"
        set cmd $cmd -c $config
    end
    if command -q timeout
        set cmd timeout 2 $cmd
    end
    set -l found 0
    for line in ($cmd status 2>/dev/null </dev/null)
        set -l f (string split -n ' ' -- $line)
        contains -- "$f[2]" STARTING RUNNING BACKOFF STOPPING STOPPED EXITED FATAL UNKNOWN
        or continue
        set found 1
        printf '%s\t%s\n' $f[1] $f[2]
        if string match -q '*:*' -- $f[1]
            printf '%s:*\tgroup\n' (string split -m 1 : -- $f[1])[1]
        end
    end | sort -u
    printf 'all\tevery process\n'
end

complete -c svc -e
complete -c svc -f

# The first word: commands, letters, the config, status directories.
complete -c svc -n '__svc_is first first-host' -a 'status\t"one line per process or DIR"
    pid\t"the pid"
    start\t"start by name"
    stop\t"stop by name"
    restart\t"restart by name"
    signal\t"send a signal by name"
    tail\t"the end of the output"
    update\t"apply the changed config"
    reread\t"what update would do"
    avail\t"the processes of the config"
    shutdown\t"stop everything and the host"'
complete -c svc -n '__svc_is first' -a 'ok\t"supervise runs on every DIR"
    wait\t"wait for a state"
    help\t"print the help"'
complete -c svc -n '__svc_is first dirs' -a '(__fish_complete_directories)'
complete -c svc -n '__svc_is first' -s c -l configuration -r -d "The host's config (first word)"
complete -c svc -n '__svc_is file' -F
complete -c svc -n '__svc_is first' -s h -l help -d 'Print the help'
complete -c svc -n '__svc_is first' -s v -l version -d 'Print the version'
for letter in u:'up: start it if it is not running' d:'down: stop it, no restart' \
        o:'once: start it, never restart it' p:'pause (STOP)' x:'exit once the service is down' \
        a:'send ALRM' i:'send INT' t:'send TERM' k:'send KILL' q:'send QUIT' \
        1:'send USR1' 2:'send USR2' s:'silence alarms' n:'alarms on' r:'reload the config'
    set -l l (string split -m 1 : -- $letter)
    complete -c svc -n '__svc_is first letters' -s $l[1] -d $l[2]
end
complete -c svc -n '__svc_is first letters' -s w -l wait -x -a 'up down restart ready' -d 'Then wait for a state'
complete -c svc -n '__svc_is first letters wait' -s T -l timeout -x -d 'Give up waiting after SECS'
complete -c svc -n '__svc_is letters wait' -a '(__fish_complete_directories)'
complete -c svc -n '__svc_is goal' -a 'up down restart ready'

# Commands.
complete -c svc -n '__svc_is status' -l json -d 'One JSON object per line'
complete -c svc -n '__svc_is status' -l prom -d 'Prometheus text format'
complete -c svc -n '__svc_is status pid' -a '(__fish_complete_directories)'
complete -c svc -n '__svc_is status pid names tail' -a '(__svc_names)'
complete -c svc -n '__svc_is signal' -a 'HUP INT QUIT KILL USR1 USR2 TERM ALRM STOP CONT'
complete -c svc -n '__svc_is tail' -s f -d 'Follow the output'
complete -c svc -n '__svc_is tail' -s n -x -d 'The last LINES lines'
complete -c svc -n '__svc_is stream' -a 'stdout stderr'
complete -c svc -n '__svc_is legacy' -a 'status start stop restart exit reconf alarm'
complete -c svc -n '__svc_is alarm' -a 'on off'
