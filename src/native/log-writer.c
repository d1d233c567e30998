/*
 * The log writer of one instance (see launch() in src/runtime/process-runner.ts):
 *
 *   log-writer <file> <maxBytes> <keep> [<uid> <gid>]
 *
 * It reads the instance's stdout and stderr on standard input and appends them to <file> until
 * the last process holding the other end has closed it (the instance and all its children are
 * gone). <file> and at most <keep> rotated files (<file>.1 the newest), none past <maxBytes>: the
 * instance never holds more than maxBytes x (keep + 1) whatever it writes. Rotation renames
 * (file -> file.1 -> ...) and reopens: no copy, and the writer is the only one holding the file.
 * Output that cannot be written within the budget (a rotation or a write failed: a full disk, a
 * directory where a rotated file should go) is dropped and counted, and a "[N bytes dropped]"
 * line says so at the next write that succeeds, or at the end.
 *
 * It never follows a link: the file is opened with O_NOFOLLOW and must be a regular file, and
 * rename and unlink act on names, not on what they point to. A file it makes goes to <uid>:<gid>
 * (never one hard-linked in). It depends on nothing: berthd may die, SIGTERM and SIGHUP are
 * ignored, it ends with its input. C rather than Node because there is one per instance: about
 * 1 ms to start and 200 KiB of memory of its own, where a Node process takes 40 ms and 40 MiB.
 */
#define _GNU_SOURCE /* memrchr */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file;
static unsigned long long max_bytes;
static unsigned long long keep;
static bool owned; /* a uid and gid were given */
static uid_t uid;
static gid_t gid;

static int fd = -1;                /* the open log file, -1 while it cannot be opened */
static unsigned long long size;    /* bytes in it */
static unsigned long long dropped; /* bytes dropped since the last note said so */

/* "[N bytes dropped]\n" into note (64 bytes) when something was dropped; its length. */
static int note_text(char *note) {
  return dropped > 0 ? snprintf(note, 64, "[%llu bytes dropped]\n", dropped) : 0;
}

/* Writes what it can of p; returns how much went. Short when the disk is full. */
static size_t put(const char *p, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  size += done;
  return done;
}

/* Writes the note, if any. False when it did not go out whole (it is written again next time). */
static bool put_note(void) {
  char note[64];
  int len = note_text(note);
  if (len == 0) return true;
  if (put(note, (size_t)len) < (size_t)len) return false;
  dropped = 0;
  return true;
}

/* Opens the file to append, never through a link; a file this writer made goes to the app's user. */
static bool reopen(void) {
  /* O_NONBLOCK: a FIFO planted at the name fails at once instead of waiting for a reader. */
  int f = open(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
  if (f < 0) return false;
  struct stat st;
  if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) ||
      (owned && st.st_nlink == 1 && st.st_uid != uid && fchown(f, uid, gid) != 0)) {
    close(f);
    return false;
  }
  fd = f;
  size = (unsigned long long)st.st_size;
  return true;
}

static bool swap(void) {
  close(fd);
  fd = -1;
  return reopen();
}

/* <file>.<i> into name (PATH_MAX bytes: main checked that it fits). */
static const char *rotated(char *name, unsigned long long i) {
  snprintf(name, PATH_MAX, "%s.%llu", file, i);
  return name;
}

/* file.(keep-1) -> file.keep, ..., file -> file.1, then a fresh file. False when it could not. */
static bool rotate(void) {
  if (keep == 0) {
    if (ftruncate(fd, 0) != 0) return false; /* O_APPEND: the next write goes to the new end */
    size = 0;
    return true;
  }
  struct stat named, held;
  if (lstat(file, &named) != 0 || fstat(fd, &held) != 0) return false;
  /* Another writer of this file (the instance's previous run, still draining) rotated it first: follow it. */
  if (named.st_ino != held.st_ino || named.st_dev != held.st_dev) return swap();
  char from[PATH_MAX], to[PATH_MAX];
  if (unlink(rotated(to, keep)) != 0 && errno != ENOENT) return false;
  for (unsigned long long i = keep - 1; i >= 1; i--)
    if (rename(rotated(from, i), rotated(to, i + 1)) != 0 && errno != ENOENT) return false;
  if (rename(file, rotated(to, 1)) != 0) return false;
  return swap();
}

/* Appends a chunk, rotating at a line boundary where there is one; what cannot go is counted. */
static void log_write(const char *p, size_t n) {
  char note[64];
  while (n > 0) {
    if (fd < 0 && !reopen()) break;
    unsigned long long used = size + (unsigned long long)note_text(note);
    size_t take = used >= max_bytes ? 0 : max_bytes - used < n ? (size_t)(max_bytes - used) : n;
    if (take > 0 && take < n) {
      const char *cut = memrchr(p, '\n', take);
      if (cut) take = (size_t)(cut - p) + 1;
      else if (size > 0) take = 0; /* a line that does not fit starts the next file */
    }
    if (take == 0) {
      if (!rotate()) break;
      continue;
    }
    if (!put_note()) break;
    size_t went = put(p, take);
    p += went;
    n -= went;
    if (went < take) break;
  }
  dropped += n;
}

/* A whole number in [min, max], or exits with the usage. */
static unsigned long long arg(const char *s, unsigned long long min, unsigned long long max) {
  char *end;
  errno = 0;
  unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
  if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "log-writer: \"%s\" is not a number from %llu to %llu\n", s, min, max);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if ((argc != 4 && argc != 6) || strlen(argv[1]) + 24 > PATH_MAX) {
    fprintf(stderr, "usage: log-writer <file> <maxBytes> <keep> [<uid> <gid>] (the output to log on stdin)\n");
    return 2;
  }
  file = argv[1];
  max_bytes = arg(argv[2], 64, 1ULL << 50); /* room for a note (at most 37 bytes) in every file */
  keep = arg(argv[3], 0, 100000);
  if (argc == 6) {
    owned = true;
    uid = (uid_t)arg(argv[4], 0, 0xfffffffe);
    gid = (gid_t)arg(argv[5], 0, 0xfffffffe);
  }
  /* Ends with its input only. SIGPIPE and SIGXFSZ: a failed write is counted, as Node does. */
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);

  reopen(); /* when it cannot be opened, output is dropped (and counted) until it can: the app never blocks on it */
  static char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n > 0) {
      log_write(buf, (size_t)n);
    } else if (n < 0 && errno == EAGAIN) { /* a non-blocking descriptor: wait for more */
      struct pollfd in = {.fd = 0, .events = POLLIN};
      poll(&in, 1, -1);
    } else if (n == 0 || errno != EINTR) {
      break; /* every writer has closed it */
    }
  }
  if (fd >= 0) {
    put_note(); /* says what was dropped, if anything */
    close(fd);
  }
  return 0;
}
