/*
 * Puts itself into an instance's cgroups, drops to the app's user, then becomes the instance
 * (see launch() in src/runtime/process-runner.ts):
 *
 *   cgroup-exec <uid|-> <gid|-> <cgroup.procs file>... -- <argv>...
 *
 * It writes its own pid to every cgroup.procs file given (one per cgroup v1 hierarchy, or the
 * one of the v2 cgroup), so the instance is inside its limits before its first instruction and
 * no child it forks can start outside them. Only then does it drop its privileges (the files are
 * root's: the app's user could not join, nor leave), as Node's spawn would (no supplementary
 * groups, then the group, then the user), and exec the argv (PATH searched in the environment
 * it was given). Any failure is written to standard error, which is the instance's log, and
 * exits 127 before the app ever runs: an instance is never started outside its limits.
 *
 * The files are opened with O_NOFOLLOW: berthd made the directories, in cgroupfs, where no app
 * can write.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, const char *arg) {
  fprintf(stderr, "berth: %s %s: %s (the instance was not started)\n", what, arg, strerror(errno));
  return 127;
}

static int parse_id(const char *s, unsigned long *out) {
  char *end;
  if (strcmp(s, "-") == 0) return 0;
  errno = 0;
  *out = strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s) return -1;
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: cgroup-exec <uid|-> <gid|-> <cgroup.procs>... -- <argv>...\n");
    return 127;
  }
  unsigned long uid = 0, gid = 0;
  int has_uid = parse_id(argv[1], &uid);
  int has_gid = parse_id(argv[2], &gid);
  if (has_uid < 0 || has_gid < 0) {
    fprintf(stderr, "cgroup-exec: bad uid or gid\n");
    return 127;
  }
  int i = 3;
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    int fd = open(argv[i], O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail("cannot open", argv[i]);
    if (write(fd, pid, (size_t)len) != len) return fail("cannot join the cgroup of", argv[i]);
    close(fd);
  }
  if (i >= argc - 1) {
    fprintf(stderr, "cgroup-exec: no command after --\n");
    return 127;
  }
  if ((has_uid || has_gid) && setgroups(0, NULL) != 0 && errno != EPERM)
    return fail("cannot drop the supplementary groups of", "berthd");
  if (has_gid && setgid((gid_t)gid) != 0) return fail("cannot switch to group", argv[2]);
  if (has_uid && setuid((uid_t)uid) != 0) return fail("cannot switch to user", argv[1]);
  execvp(argv[i + 1], &argv[i + 1]);
  return fail("cannot run", argv[i + 1]);
}
