/*
 * Connection-setup load generator in C (epoll, one thread), so the generator is
 * not the bottleneck: a Node generator tops out at ~7-8k setups/s on this kind
 * of machine, where direct loopback reaches ~22k. Same job and same output as
 * bench/load.ts's `setup` kind: each tunnel is opened (directly, or through a
 * SOCKS5 proxy with RFC 1929 credentials), one byte is echoed, and it is closed.
 *
 *   cc -O2 -o loadgen bench/loadgen.c
 *   loadgen --echo PORT[,PORT...] [--via PORT [--user U --pass P]] --c 64 --ms 2000
 *
 * Prints one JSON line: {"perSec","p50us","p99us","errors","genCpuUs","count"}.
 * Bounded in time (--ms) and count (200,000 setups); every handshake step has a
 * 5 s deadline. Source addresses rotate over 127.77.0.0/16 like load.ts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum step { CONNECTING, GREETED, AUTHED, REQUESTED, ECHOING };

struct conn {
  int fd;
  enum step step;
  double t0;      /* µs, start of this setup */
  unsigned char buf[16];
  int have, want; /* bytes read so far / expected for this step */
};

static int via_port, nechos, concurrency = 64, ms = 2000;
static int echo_ports[64];
static const char *user, *pass;
static unsigned next_source;
static double *lat;
static long nlat, errors, started;
/* lat[] holds MAX_SETUPS entries: starts are capped at that (every start ends as one latency or one error). */
static const long MAX_SETUPS = 200000;
static int ep;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void start(struct conn *c);

static void fail(struct conn *c) {
  errors++;
  close(c->fd);
  start(c);
}

static void finish(struct conn *c) {
  if (nlat < MAX_SETUPS) lat[nlat++] = now_us() - c->t0;
  close(c->fd);
  start(c);
}

static void start(struct conn *c) {
  c->fd = -1;
  /* Gate on what was started, not on what finished: with c in flight, the latter overran lat[] by up to c - 1. */
  if (started >= MAX_SETUPS) return;
  started++;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { errors++; return; }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in src = { .sin_family = AF_INET };
  unsigned i = next_source++ % 4096;
  src.sin_addr.s_addr = htonl((127u << 24) | (77u << 16) | ((i >> 8) << 8) | ((i & 255) ? (i & 255) : 1));
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) { close(fd); errors++; return; }
  struct sockaddr_in dst = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
  int target = echo_ports[started % nechos];
  dst.sin_port = htons(via_port ? via_port : target);
  c->fd = fd;
  c->t0 = now_us();
  c->step = CONNECTING;
  c->have = 0;
  c->want = 0;
  c->buf[15] = (unsigned char)(target >> 8); /* remembered for the CONNECT request */
  c->buf[14] = (unsigned char)(target & 255);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    close(fd); /* no fail(): it calls start() again; the main loop restarts idle slots */
    c->fd = -1;
    errors++;
    return;
  }
  struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int send_all(int fd, const void *p, size_t n) {
  return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

/* Ask for exactly `n` bytes next; the reply steps here are small and fixed. */
static void expect(struct conn *c, enum step s, int n) {
  c->step = s;
  c->have = 0;
  c->want = n;
}

static void send_request(struct conn *c) {
  unsigned char req[10] = { 5, 1, 0, 1, 127, 0, 0, 1, c->buf[15], c->buf[14] };
  if (send_all(c->fd, req, sizeof req) < 0) { fail(c); return; }
  expect(c, REQUESTED, 10);
}

static void send_echo(struct conn *c) {
  if (send_all(c->fd, "x", 1) < 0) { fail(c); return; }
  expect(c, ECHOING, 1);
}

static void on_event(struct conn *c, uint32_t events) {
  if (c->step == CONNECTING) {
    if (events & (EPOLLERR | EPOLLHUP)) { fail(c); return; }
    if (!(events & EPOLLOUT)) return;
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    if (!via_port) { send_echo(c); return; }
    unsigned char hello[3] = { 5, 1, user ? 2 : 0 };
    if (send_all(c->fd, hello, 3) < 0) { fail(c); return; }
    expect(c, GREETED, 2);
    return;
  }
  ssize_t n = recv(c->fd, c->buf + c->have, (size_t)(c->want - c->have), 0);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return;
    fail(c);
    return;
  }
  c->have += (int)n;
  if (c->have < c->want) return;
  switch (c->step) {
  case GREETED:
    if (c->buf[0] != 5 || c->buf[1] != (user ? 2 : 0)) { fail(c); return; }
    if (user) {
      unsigned char a[515];
      size_t ul = strlen(user), pl = strlen(pass);
      a[0] = 1; a[1] = (unsigned char)ul; memcpy(a + 2, user, ul);
      a[2 + ul] = (unsigned char)pl; memcpy(a + 3 + ul, pass, pl);
      if (send_all(c->fd, a, 3 + ul + pl) < 0) { fail(c); return; }
      expect(c, AUTHED, 2);
    } else send_request(c);
    break;
  case AUTHED:
    if (c->buf[1] != 0) { fail(c); return; }
    send_request(c);
    break;
  case REQUESTED:
    if (c->buf[1] != 0) { fail(c); return; }
    send_echo(c);
    break;
  case ECHOING:
    finish(c);
    break;
  default:
    fail(c);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--echo")) {
      for (char *t = strtok(argv[i + 1], ","); t && nechos < 64; t = strtok(NULL, ",")) echo_ports[nechos++] = atoi(t);
    } else if (!strcmp(argv[i], "--via")) via_port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--user")) user = argv[i + 1];
    else if (!strcmp(argv[i], "--pass")) pass = argv[i + 1];
    else if (!strcmp(argv[i], "--c")) concurrency = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ms")) ms = atoi(argv[i + 1]);
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 2; }
  }
  if (!nechos || concurrency < 1 || concurrency > 4096 || ms < 1 || (user && !pass) ||
      (user && (strlen(user) > 255 || strlen(pass) > 255))) {
    fprintf(stderr, "usage: loadgen --echo PORT[,PORT...] [--via PORT [--user U --pass P]] [--c 64] [--ms 2000]\n");
    return 2;
  }
  lat = malloc(sizeof(double) * MAX_SETUPS);
  struct conn *conns = calloc((size_t)concurrency, sizeof *conns);
  ep = epoll_create1(0);
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  double t0 = now_us(), end = t0 + ms * 1000.0;
  for (int i = 0; i < concurrency; i++) start(&conns[i]);
  struct epoll_event evs[256];
  while (now_us() < end && nlat + errors < MAX_SETUPS) {
    int n = epoll_wait(ep, evs, 256, 50);
    for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    /* A step stuck past 5 s counts as an error (bounded, like load.ts). */
    double t = now_us();
    for (int i = 0; i < concurrency; i++) {
      if (conns[i].fd < 0) start(&conns[i]);
      else if (t - conns[i].t0 > 5e6) fail(&conns[i]);
    }
  }
  double secs = (now_us() - t0) / 1e6;
  getrusage(RUSAGE_SELF, &ru1);
  double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
               (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
  for (int i = 0; i < concurrency; i++) if (conns[i].fd >= 0) close(conns[i].fd);
  qsort(lat, (size_t)nlat, sizeof *lat, cmp);
  double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(long)(nlat * 0.99)] : 0;
  printf("{\"perSec\":%.1f,\"p50us\":%.1f,\"p99us\":%.1f,\"errors\":%ld,\"genCpuUs\":%.1f,\"count\":%ld}\n",
         nlat / secs, p50, p99, errors, cpu / (nlat ? nlat : 1), nlat);
  return 0;
}
