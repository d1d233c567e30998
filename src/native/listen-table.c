/*
 * The launcher's table of listening TCP sockets (see launcher.c, request "L"): one netlink sock_diag dump per family
 * that asks the kernel for sockets in LISTEN state only.
 *
 * Why: reading /proc/net/tcp or tcp6 walks the kernel's whole socket hash table, established buckets included,
 * whatever is in it: 5-25 ms each on this machine, twice per deploy's pre-flight doctor and once per readiness probe
 * that verifies an instance holds its port (issue 14). A dump restricted to LISTEN walks the listening hash only
 * (tens of microseconds). Node has no netlink sockets; the launcher is the one native process berthd already talks to.
 *
 * Answer, one line: "L 0 <family>,<address>,<port>,<inode> ..." (family 4 or 6; the address as /proc/net/tcp and tcp6
 * print it: dotted for IPv4, 32 hex digits for IPv6), or "L <errno>" when the kernel refused (then berthd reads /proc).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TCP_LISTEN_STATE 10

struct text {
  char *s;
  size_t len, cap;
};

static void append(struct text *t, const char *piece) {
  size_t n = strlen(piece);
  if (t->len + n + 1 > t->cap) {
    t->cap = (t->len + n + 1) * 2;
    t->s = realloc(t->s, t->cap);
    if (!t->s) exit(1);
  }
  memcpy(t->s + t->len, piece, n + 1);
  t->len += n;
}

/* One family's listeners appended to `out`; 0, or the errno that stopped the dump. */
static int dump(int family, struct text *out) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return errno;
  struct {
    struct nlmsghdr h;
    struct inet_diag_req_v2 r;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = (unsigned char)family;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = 1u << TCP_LISTEN_STATE;
  if (send(fd, &req, sizeof req, 0) < 0) {
    int e = errno;
    close(fd);
    return e;
  }
  static char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return e;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return close(fd), 0;
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(h);
        close(fd);
        return err->error ? -err->error : EIO;
      }
      struct inet_diag_msg *m = NLMSG_DATA(h);
      char address[40], entry[96];
      if (family == AF_INET) inet_ntop(AF_INET, m->id.idiag_src, address, sizeof address);
      else
        snprintf(address, sizeof address, "%08X%08X%08X%08X", m->id.idiag_src[0], m->id.idiag_src[1],
                 m->id.idiag_src[2], m->id.idiag_src[3]);
      snprintf(entry, sizeof entry, " %d,%s,%u,%u", family == AF_INET ? 4 : 6, address, ntohs(m->id.idiag_sport),
               m->idiag_inode);
      append(out, entry);
    }
  }
}

void listen_table(void (*send_line)(const char *line, size_t len)) {
  struct text out = {0};
  append(&out, "L 0");
  int e = dump(AF_INET, &out);
  if (!e) e = dump(AF_INET6, &out);
  if (e == EAFNOSUPPORT) e = 0; /* a kernel without IPv6: its IPv4 listeners are the whole table */
  if (e) {
    char line[32];
    snprintf(line, sizeof line, "L %d\n", e);
    send_line(line, strlen(line));
  } else {
    append(&out, "\n");
    send_line(out.s, out.len);
  }
  free(out.s);
}
