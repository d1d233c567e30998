/*
 * Starts instances for berthd (see src/runtime/spawner.ts): berthd starts it once and writes it
 * launches; it forks and execs each instance's log writer and the instance, and reports every exit.
 *
 * Why: a fork copies the page tables of the process that forks. berthd is a Node process of
 * ~100 MiB, so each of its spawns cost ~7 ms of CPU, and every page it wrote next faulted (copy on
 * write): two spawns per instance made most of the CPU of starting 1,000 instances (issue 14). This
 * process is a few hundred KiB: its forks cost tens of microseconds.
 *
 * Requests on standard input: "<bytes>\n" then that many bytes of NUL-terminated fields:
 *   id, log file, maxBytes, keep, writer uid ("" for none), writer gid, log writer path, cwd,
 *   uid ("-" for none), gid ("-"), argc, argv..., envc, env...
 * or a request of one field, "L": the listening TCP sockets (listen-table.c), answered "L ..." on one line.
 * Answers on standard output, one line each:
 *   S <id> <pid> <writer pid>     the instance exec'd (in its own session, output to the writer)
 *   F <id> <writer pid> <errno>   it could not (chdir, setuid or exec failed with errno)
 *   X <pid> <code> <signal>       a child exited (code -1 when killed by signal; signal 0 otherwise)
 * The log file was created by berthd; the writer (its own session too) appends to it, as Node's
 * spawn started both before: stdin from /dev/null, no supplementary groups, every signal default.
 * It exits when its standard input ends (berthd gone); what it started runs on, as berthd's own did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FIELDS 65536

static sigset_t chld;

static void send_line(const char *line, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t w = write(1, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) exit(0); /* berthd is gone */
    off += (size_t)w;
  }
}

static void reply(const char *fmt, long a, long b, long c) {
  char line[128];
  int n = snprintf(line, sizeof line, fmt, a, b, c);
  send_line(line, (size_t)n);
}

/* listen-table.c: answers the "L" request with the listening TCP sockets. */
void listen_table(void (*send)(const char *line, size_t len));

/* The child's side: signals as a new process expects them, stdio, its own session. */
static void child_setup(int in, int out) {
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  setsid();
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
}

/* Forks a child that runs `argv`; its exec's errno (0 on success) is returned, its pid in *pid. */
static int start(pid_t *pid, int in, int out, const char *cwd, const char *uid, const char *gid, char **argv,
                 char **envp) {
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return errno;
  *pid = fork();
  if (*pid < 0) {
    int e = errno;
    close(report[0]);
    close(report[1]);
    return e;
  }
  if (*pid == 0) {
    child_setup(in, out);
    int e = 0;
    if (cwd[0] != '\0' && chdir(cwd) != 0) e = errno;
    if (!e && (strcmp(uid, "-") != 0 || strcmp(gid, "-") != 0) && setgroups(0, NULL) != 0 && errno != EPERM)
      e = errno;
    if (!e && strcmp(gid, "-") != 0 && setgid((gid_t)strtoul(gid, NULL, 10)) != 0) e = errno;
    if (!e && strcmp(uid, "-") != 0 && setuid((uid_t)strtoul(uid, NULL, 10)) != 0) e = errno;
    if (!e) {
      environ = envp;
      execvp(argv[0], argv);
      e = errno;
    }
    (void)!write(report[1], &e, sizeof e);
    _exit(127);
  }
  close(report[1]);
  int e = 0;
  ssize_t r;
  do r = read(report[0], &e, sizeof e);
  while (r < 0 && errno == EINTR);
  close(report[0]);
  return r == (ssize_t)sizeof e ? e : 0;
}

static void launch(char **f, int n) {
  if (n < 12) return;
  long id = strtol(f[0], NULL, 10);
  int i = 10;
  int argc = atoi(f[i++]);
  if (argc < 1 || i + argc >= n) return;
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  for (int k = 0; k < argc; k++) argv[k] = f[i++];
  int envc = atoi(f[i++]);
  if (envc < 0 || i + envc > n) return free(argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  for (int k = 0; k < envc; k++) envp[k] = f[i++];

  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  int out[2];
  if (null < 0 || pipe2(out, O_CLOEXEC) != 0) {
    reply("F %ld %ld %ld\n", id, 0, errno);
    goto done;
  }
  char *wargv[] = {f[6], f[1], f[2], f[3], f[4][0] ? f[4] : NULL, f[5], NULL};
  char *wenv[] = {NULL};
  pid_t writer, app;
  int e = start(&writer, out[0], null, "", "-", "-", wargv, wenv);
  if (e == 0) e = start(&app, null, out[1], f[7], f[8], f[9], argv, envp);
  else writer = 0;
  close(out[0]);
  close(out[1]); /* from now on only the instance holds the write end: the writer ends after it */
  if (e == 0) reply("S %ld %ld %ld\n", id, app, writer);
  else reply("F %ld %ld %ld\n", id, writer, e);
done:
  if (null >= 0) close(null);
  free(argv);
  free(envp);
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (WIFEXITED(status)) reply("X %ld %ld %ld\n", pid, WEXITSTATUS(status), 0);
    else if (WIFSIGNALED(status)) reply("X %ld %ld %ld\n", pid, -1, WTERMSIG(status));
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) return perror("launcher: signalfd"), 1;
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  char *buf = NULL;
  size_t len = 0, cap = 0;
  char **fields = malloc(MAX_FIELDS * sizeof *fields);
  struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) > 0) {
      }
      reap();
    }
    if (!p[0].revents) continue;
    if (cap - len < 65536) buf = realloc(buf, cap = cap * 2 + 65536);
    ssize_t r = read(0, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0; /* berthd is gone: what was started runs on */
    len += (size_t)r;
    for (;;) {
      char *nl = memchr(buf, '\n', len);
      if (!nl) break;
      size_t head = (size_t)(nl - buf) + 1, body = strtoul(buf, NULL, 10);
      if (len < head + body) break;
      if (body == 0 || buf[head + body - 1] != '\0') return fputs("launcher: a request not ending in NUL\n", stderr), 1;
      int n = 0;
      for (size_t at = head; at < head + body && n < MAX_FIELDS; at += strlen(buf + at) + 1) fields[n++] = buf + at;
      if (n == 1 && strcmp(fields[0], "L") == 0) listen_table(send_line);
      else launch(fields, n);
      memmove(buf, buf + head + body, len - head - body);
      len -= head + body;
    }
  }
}
