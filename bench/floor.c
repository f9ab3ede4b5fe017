/* The floor: the least a supervisor can do. Forks, execs argv[1..] in the child,
   blocks in waitpid, and does it again; no throttle, no status, no control. What
   the benchmark's method shows for it is the cost of the method itself. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: floor PROGRAM [ARG...]\n", stderr);
        return 100;
    }
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("floor: fork");
            sleep(1);
            continue;
        }
        if (pid == 0) {
            execvp(argv[1], argv + 1);
            perror("floor: exec");
            _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) {
        }
    }
}
