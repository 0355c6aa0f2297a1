/*
 * libpri-peer: a Q.931/Q.921 peer built on libpri 1.6, driven over stdin and
 * reporting on stdout, for Tandem's interoperability tests.
 *
 * One LAPD frame per SOCK_SEQPACKET packet on a Unix socket (address,
 * control, information; no flags, no FCS). Commands arrive one per line on
 * stdin; every event is one JSON object per line on stdout. libpri's own
 * diagnostics go to stderr. See README.md beside this file.
 *
 * Part of Tandem. SPDX-License-Identifier: GPL-2.0-or-later
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libpri.h>

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_USAGE 64
#define EXIT_SOCKET 2  /* socket error (connect, accept, read, write) */
#define EXIT_CLOSED 3  /* the other end closed the socket while we ran */
#define EXIT_LIBPRI 4  /* libpri refused to start */

/* How long `quit` waits for the clearing of our calls to finish. */
#define QUIT_GRACE_MS 2000
/* How long --connect retries while the listener is not there yet. */
#define CONNECT_RETRY_MS 10000

#define MAX_CALLS 128
#define MAX_FRAME 1024

/* ------------------------------------------------------------------------ */
/* Options */

struct options {
	int nodetype;         /* PRI_NETWORK or PRI_CPE */
	const char *role;     /* "network" or "user" */
	int switchtype;       /* PRI_SWITCH_* */
	const char *switchname;
	const char *listen_path;
	const char *connect_path;
	int auto_answer_ms;   /* -1: off */
	int overlap;
	int debug_mask;
	int hangup_fix;
	int layer1;           /* PRI_LAYER_1_ULAW or PRI_LAYER_1_ALAW */
	int trace;            /* emit a "frame" event for every frame */
	long display_send;    /* -1: libpri's default, else PRI_DISPLAY_OPTION_* */
	long display_receive;
};

static struct options opt = {
	.nodetype = 0,
	.switchtype = -1,
	.auto_answer_ms = -1,
	.layer1 = 0,
	.display_send = -1,
	.display_receive = -1,
};

/* "block", "name", "name-update", "text", or a comma list of them. */
static long parse_display(const char *s)
{
	char buf[128], *tok, *save = NULL;
	long flags = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strcmp(tok, "block"))
			flags |= PRI_DISPLAY_OPTION_BLOCK;
		else if (!strcmp(tok, "name"))
			flags |= PRI_DISPLAY_OPTION_NAME_INITIAL;
		else if (!strcmp(tok, "name-update"))
			flags |= PRI_DISPLAY_OPTION_NAME_UPDATE;
		else if (!strcmp(tok, "text"))
			flags |= PRI_DISPLAY_OPTION_TEXT;
		else
			return -1;
	}
	return flags;
}

struct switch_name {
	const char *name;
	int type;
};

static const struct switch_name switch_names[] = {
	{ "ni2", PRI_SWITCH_NI2 },
	{ "dms100", PRI_SWITCH_DMS100 },
	{ "4ess", PRI_SWITCH_ATT4ESS },
	{ "5ess", PRI_SWITCH_LUCENT5E },
	{ "euroisdn-e1", PRI_SWITCH_EUROISDN_E1 },
	{ "euroisdn-t1", PRI_SWITCH_EUROISDN_T1 },
	{ "qsig", PRI_SWITCH_QSIG },
	{ "ni1", PRI_SWITCH_NI1 },
};

/* Timer settings from --timer NAME=MS, applied once libpri exists. */
struct timer_setting {
	char name[32];
	int value;
};
static struct timer_setting timer_settings[32];
static int n_timer_settings;

/* ------------------------------------------------------------------------ */
/* State */

struct call {
	int used;
	int id;
	q931_call *c;
	int outgoing;
	int channel;       /* B channel number we use in replies (0: none known) */
	int responded;     /* incoming: we sent PROCEEDING/ALERTING/CONNECT/SETUP ACK */
	int answered;      /* CONNECT sent or received */
	int releasing;     /* we called pri_hangup; waiting for libpri to finish */
	int cref;          /* incoming: call reference value (from the ring event) */
	int silent_cause;  /* >0: libpri sent RELEASE COMPLETE behind our back */
	/* --auto-answer: 0 none, 1 waiting for digits (overlap),
	 * 2 PROCEEDING+ALERTING sent, waiting to answer */
	int auto_stage;
	long long auto_due_ms;
};

static struct call calls[MAX_CALLS];
static int next_call_id = 1;

static struct pri *ctrl;
static int sock_fd = -1;
static int listen_fd = -1;
static int dchan_up;
static int read_got_data;       /* set by the read callback */
static int in_libpri_rx;        /* inside pri_check_event/pri_schedule_run */
static int silent_pending;      /* some call has silent_cause set */
static int sock_failed;         /* 0, EXIT_SOCKET or EXIT_CLOSED */
static char sock_fail_msg[256];
static struct timespec t0;

/* ------------------------------------------------------------------------ */
/* Time */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) (ts.tv_sec - t0.tv_sec) * 1000 + (ts.tv_nsec - t0.tv_nsec) / 1000000;
}

/* ------------------------------------------------------------------------ */
/* JSON output: one object per line, flushed at once. */

struct json {
	char buf[16384];
	size_t len;
	int overflow;
};

static void j_put(struct json *j, const char *s, size_t n)
{
	if (j->len + n + 4 >= sizeof(j->buf)) {
		j->overflow = 1;
		return;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static void j_puts(struct json *j, const char *s)
{
	j_put(j, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if not valid. */
static int utf8_seq_len(const unsigned char *s)
{
	int n, i;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
		|| cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A JSON string. Valid UTF-8 passes through; any other byte is taken as
 * Latin-1 and escaped, so the output line is always valid UTF-8. */
static void j_string(struct json *j, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	char esc[8];
	int n;

	j_puts(j, "\"");
	while (*p) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char) *p;
			j_put(j, esc, 2);
			p++;
		} else if (*p < 0x20 || *p == 0x7F) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			j_puts(j, esc);
			p++;
		} else if ((n = utf8_seq_len(p)) > 0) {
			j_put(j, (const char *) p, (size_t) n);
			p += n;
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			j_puts(j, esc);
			p++;
		}
	}
	j_puts(j, "\"");
}

static void j_begin(struct json *j, const char *event)
{
	char tmp[48];

	j->len = 0;
	j->overflow = 0;
	j_puts(j, "{\"event\":");
	j_string(j, event);
	snprintf(tmp, sizeof(tmp), ",\"ms\":%lld", now_ms());
	j_puts(j, tmp);
}

static void j_key(struct json *j, const char *key)
{
	j_puts(j, ",");
	j_string(j, key);
	j_puts(j, ":");
}

static void j_str(struct json *j, const char *key, const char *val)
{
	j_key(j, key);
	j_string(j, val ? val : "");
}

static void j_int(struct json *j, const char *key, long long val)
{
	char tmp[32];

	j_key(j, key);
	snprintf(tmp, sizeof(tmp), "%lld", val);
	j_puts(j, tmp);
}

static void j_bool(struct json *j, const char *key, int val)
{
	j_key(j, key);
	j_puts(j, val ? "true" : "false");
}

static void j_null(struct json *j, const char *key)
{
	j_key(j, key);
	j_puts(j, "null");
}

static void j_end(struct json *j)
{
	if (j->overflow) {
		/* Should not happen with libpri's bounded strings; keep the line valid. */
		j->len = 0;
		j->overflow = 0;
		j_puts(j, "{\"event\":\"error\",\"msg\":\"event too long for the output buffer\"");
	}
	j_puts(j, "}\n");
	fwrite(j->buf, 1, j->len, stdout);
	fflush(stdout);
}

static void emit_simple(const char *event)
{
	struct json j;

	j_begin(&j, event);
	j_end(&j);
}

static void emit_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_error(const char *fmt, ...)
{
	struct json j;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j_begin(&j, "error");
	j_str(&j, "msg", msg);
	j_end(&j);
}

static void emit_exit(int status)
{
	struct json j;

	j_begin(&j, "exit");
	j_int(&j, "status", status);
	j_end(&j);
}

/* ------------------------------------------------------------------------ */
/* libpri diagnostics go to stderr, never stdout. */

static void pri_msg_cb(struct pri *p, char *s)
{
	(void) p;
	fprintf(stderr, "[libpri %s] %s", opt.role ? opt.role : "?", s);
}

static void pri_err_cb(struct pri *p, char *s)
{
	(void) p;
	fprintf(stderr, "[libpri %s ERROR] %s", opt.role ? opt.role : "?", s);
}

/* ------------------------------------------------------------------------ */
/* Frame I/O callbacks.
 *
 * libpri writes each frame with 2 extra bytes where an HDLC driver would put
 * the FCS, and strips 2 bytes from each frame it reads (q921.c, 1.6.0). Our
 * packets carry no FCS, so the write callback sends len-2 bytes (and reports
 * len), and the read callback appends 2 dummy bytes. The read callback must
 * never return a negative number: pri_check_event hands any non-zero result
 * to the Q.921 parser as a length. */

static void sock_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sock_fail(int code, const char *fmt, ...)
{
	va_list ap;

	if (sock_failed)
		return;
	sock_failed = code;
	va_start(ap, fmt);
	vsnprintf(sock_fail_msg, sizeof(sock_fail_msg), fmt, ap);
	va_end(ap);
}

static void emit_frame(const char *dir, const unsigned char *f, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char txt[2 * MAX_FRAME + 1];
	struct json j;
	size_t i;

	if (len > MAX_FRAME)
		len = MAX_FRAME;
	for (i = 0; i < len; i++) {
		txt[2 * i] = hex[f[i] >> 4];
		txt[2 * i + 1] = hex[f[i] & 15];
	}
	txt[2 * len] = '\0';
	j_begin(&j, "frame");
	j_str(&j, "dir", dir);
	j_str(&j, "hex", txt);
	j_end(&j);
}

static void snoop_tx(const unsigned char *f, size_t len);

static int io_read(struct pri *p, void *buf, int buflen)
{
	ssize_t n;

	(void) p;
	read_got_data = 0;
	if (sock_failed || buflen <= 2)
		return 0;
	n = recv(sock_fd, buf, (size_t) buflen - 2, MSG_DONTWAIT);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			sock_fail(errno == ECONNRESET ? EXIT_CLOSED : EXIT_SOCKET,
				"socket read failed: %s", strerror(errno));
		return 0;
	}
	if (n == 0) {
		sock_fail(EXIT_CLOSED, "socket closed by the other end");
		return 0;
	}
	read_got_data = 1;
	if (opt.trace)
		emit_frame("rx", buf, (size_t) n);
	memset((char *) buf + n, 0, 2);
	return (int) n + 2;
}

static int io_write(struct pri *p, void *buf, int buflen)
{
	ssize_t n;
	size_t len;

	(void) p;
	if (sock_failed)
		return -1;
	if (buflen < 2)
		return -1;
	len = (size_t) buflen - 2;
	if (opt.trace)
		emit_frame("tx", buf, len);
	if (in_libpri_rx)
		snoop_tx(buf, len);
	do {
		n = send(sock_fd, buf, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		sock_fail((errno == EPIPE || errno == ECONNRESET) ? EXIT_CLOSED : EXIT_SOCKET,
			"socket write failed: %s", strerror(errno));
		return -1;
	}
	if ((size_t) n != len) {
		sock_fail(EXIT_SOCKET, "short socket write: %zd of %zu bytes", n, len);
		return -1;
	}
	return buflen;
}

/* ------------------------------------------------------------------------ */
/* Calls */

static struct call *call_by_ptr(q931_call *c)
{
	int i;

	if (!c)
		return NULL;
	for (i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && calls[i].c == c)
			return &calls[i];
	return NULL;
}

static struct call *call_by_id(int id)
{
	int i;

	for (i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && calls[i].id == id)
			return &calls[i];
	return NULL;
}

/* The newest call that is not being released. */
static struct call *call_latest(void)
{
	struct call *best = NULL;
	int i;

	for (i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && !calls[i].releasing && (!best || calls[i].id > best->id))
			best = &calls[i];
	return best;
}

static void call_forget(struct call *cl)
{
	if (cl)
		memset(cl, 0, sizeof(*cl));
}

static struct call *call_add(q931_call *c, int outgoing, int channel)
{
	struct call *old;
	int i;

	/* libpri freed the call this pointer used to be: drop the stale entry. */
	while ((old = call_by_ptr(c)))
		call_forget(old);
	for (i = 0; i < MAX_CALLS; i++) {
		if (!calls[i].used) {
			memset(&calls[i], 0, sizeof(calls[i]));
			calls[i].used = 1;
			calls[i].id = next_call_id++;
			calls[i].c = c;
			calls[i].outgoing = outgoing;
			calls[i].channel = channel;
			return &calls[i];
		}
	}
	return NULL;
}

static int channel_in_use(int ch)
{
	int i;

	for (i = 0; i < MAX_CALLS; i++)
		if (calls[i].used && !calls[i].releasing && calls[i].channel == ch)
			return 1;
	return 0;
}

static int free_channel(void)
{
	int ch;

	for (ch = 1; ch < 32; ch++)
		if (!channel_in_use(ch))
			return ch;
	return 1;
}

static int active_calls(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_CALLS; i++)
		if (calls[i].used)
			n++;
	return n;
}

static void j_call(struct json *j, struct call *cl)
{
	if (cl)
		j_int(j, "call", cl->id);
	else
		j_null(j, "call");
}

/*
 * libpri 1.6 quirk: a DISCONNECT for an incoming call we have not replied to
 * yet (no PROCEEDING/ALERTING/CONNECT/SETUP ACK sent) is handled inside
 * libpri: it answers RELEASE COMPLETE, reports no event, and leaves the call
 * allocated in state Release Request for good (q931_release with !acked).
 * We spot that RELEASE COMPLETE among the frames libpri writes while it
 * processes input, and afterwards free the call (pri_destroycall) and
 * report a "hangup" with "synthetic":true.
 */
static void snoop_tx(const unsigned char *f, size_t len)
{
	size_t off, crlen, i;
	int flag, cref, msg, cause = 0;

	if (len < 3)
		return;
	if (!(f[2] & 1))
		off = 4;                /* I frame */
	else if (f[2] == 0x03)
		off = 3;                /* UI frame */
	else
		return;
	if (len < off + 3 || f[off] != 0x08)
		return;
	crlen = f[off + 1] & 0x0F;
	if (crlen < 1 || crlen > 2 || len < off + 2 + crlen + 1)
		return;
	flag = f[off + 2] & 0x80;
	cref = f[off + 2] & 0x7F;
	if (crlen == 2)
		cref = (cref << 8) | f[off + 3];
	msg = f[off + 2 + crlen];
	if (msg != 0x5A || !flag)  /* RELEASE COMPLETE, sent to the originator */
		return;
	for (i = off + 3 + crlen; i + 1 < len; ) {
		unsigned char ie = f[i];

		if (ie & 0x80) {        /* single octet IE */
			i++;
			continue;
		}
		if (ie == 0x08 && i + 3 < len) {
			size_t c = i + 2;

			if (!(f[c] & 0x80))
				c++;            /* octet 3a */
			if (c + 1 < len && c + 1 < i + 2 + f[i + 1])
				cause = f[c + 1] & 0x7F;
			break;
		}
		i += 2 + f[i + 1];
	}
	for (i = 0; i < MAX_CALLS; i++) {
		struct call *cl = &calls[i];

		if (cl->used && !cl->outgoing && !cl->responded && !cl->releasing
			&& cl->cref == cref) {
			cl->silent_cause = cause > 0 ? cause : PRI_CAUSE_NORMAL_CLEARING;
			silent_pending = 1;
		}
	}
}

/* Finish what snoop_tx found, once libpri is out of its call processing. */
static void reap_silent(void)
{
	struct json j;
	int i;

	if (!silent_pending)
		return;
	silent_pending = 0;
	for (i = 0; i < MAX_CALLS; i++) {
		struct call *cl = &calls[i];

		if (!cl->used || !cl->silent_cause)
			continue;
		j_begin(&j, "hangup");
		j_call(&j, cl);
		j_int(&j, "cause", cl->silent_cause);
		j_int(&j, "channel", cl->channel);
		j_int(&j, "cref", cl->cref);
		j_bool(&j, "synthetic", 1);
		j_end(&j);
		/* pri_destroycall checks that the call still exists. */
		pri_destroycall(ctrl, cl->c);
		call_forget(cl);
	}
}

/* The B channel of an encoded libpri channel value; -1 for none/any. */
static int chan_of(int encoded)
{
	int ch;

	if (encoded < 0)
		return -1;
	ch = encoded & 0xFF;
	if (ch == 0xFF)
		return -1;
	return ch;
}

static const char *subcmd_name(int cmd)
{
	switch (cmd) {
	case PRI_SUBCMD_REDIRECTING: return "redirecting";
	case PRI_SUBCMD_CONNECTED_LINE: return "connected_line";
	case PRI_SUBCMD_REROUTING: return "rerouting";
	case PRI_SUBCMD_CC_AVAILABLE: return "cc_available";
	case PRI_SUBCMD_CC_REQ: return "cc_req";
	case PRI_SUBCMD_CC_REQ_RSP: return "cc_req_rsp";
	case PRI_SUBCMD_CC_REMOTE_USER_FREE: return "cc_remote_user_free";
	case PRI_SUBCMD_CC_B_FREE: return "cc_b_free";
	case PRI_SUBCMD_CC_STATUS_REQ: return "cc_status_req";
	case PRI_SUBCMD_CC_STATUS_REQ_RSP: return "cc_status_req_rsp";
	case PRI_SUBCMD_CC_STATUS: return "cc_status";
	case PRI_SUBCMD_CC_CALL: return "cc_call";
	case PRI_SUBCMD_CC_CANCEL: return "cc_cancel";
	case PRI_SUBCMD_CC_STOP_ALERTING: return "cc_stop_alerting";
	case PRI_SUBCMD_TRANSFER_CALL: return "transfer_call";
	case PRI_SUBCMD_AOC_S: return "aoc_s";
	case PRI_SUBCMD_AOC_D: return "aoc_d";
	case PRI_SUBCMD_AOC_E: return "aoc_e";
	case PRI_SUBCMD_AOC_CHARGING_REQ: return "aoc_charging_req";
	case PRI_SUBCMD_AOC_CHARGING_REQ_RSP: return "aoc_charging_req_rsp";
	case PRI_SUBCMD_MCID_REQ: return "mcid_req";
	case PRI_SUBCMD_MCID_RSP: return "mcid_rsp";
	case PRI_SUBCMD_DISPLAY_TEXT: return "display_text";
	default: return "unknown";
	}
}

/* "subcmds": [{"cmd":"connected_line","number":"..","name":".."}, ...] */
static void j_subcmds(struct json *j, const struct pri_subcommands *sc)
{
	int i;
	char tmp[64];

	if (!sc || sc->counter_subcmd <= 0)
		return;
	j_key(j, "subcmds");
	j_puts(j, "[");
	for (i = 0; i < sc->counter_subcmd && i < PRI_MAX_SUBCOMMANDS; i++) {
		const struct pri_subcommand *s = &sc->subcmd[i];

		if (i)
			j_puts(j, ",");
		j_puts(j, "{\"cmd\":");
		j_string(j, subcmd_name(s->cmd));
		snprintf(tmp, sizeof(tmp), ",\"code\":%d", s->cmd);
		j_puts(j, tmp);
		switch (s->cmd) {
		case PRI_SUBCMD_CONNECTED_LINE:
			j_str(j, "number", s->u.connected_line.id.number.str);
			j_str(j, "name", s->u.connected_line.id.name.str);
			break;
		case PRI_SUBCMD_REDIRECTING:
			j_str(j, "from", s->u.redirecting.from.number.str);
			j_str(j, "to", s->u.redirecting.to.number.str);
			j_int(j, "reason", s->u.redirecting.reason);
			j_int(j, "count", s->u.redirecting.count);
			break;
		case PRI_SUBCMD_DISPLAY_TEXT:
			j_str(j, "text", s->u.display.text);
			break;
		default:
			break;
		}
		j_puts(j, "}");
	}
	j_puts(j, "]");
}

/* ------------------------------------------------------------------------ */
/* Replies to an incoming call */

static int do_proceeding(struct call *cl)
{
	int res = pri_proceeding(ctrl, cl->c, cl->channel, 0);

	if (!res)
		cl->responded = 1;
	return res;
}

static int do_alerting(struct call *cl)
{
	int res = pri_acknowledge(ctrl, cl->c, cl->channel, 0);

	if (!res)
		cl->responded = 1;
	return res;
}

static int do_answer(struct call *cl)
{
	int res = pri_answer(ctrl, cl->c, cl->channel, 0);

	if (!res) {
		cl->responded = 1;
		cl->answered = 1;
	}
	return res;
}

static int cause_gets_release_complete(int cause);

static int do_hangup(struct call *cl, int cause)
{
	int res = pri_hangup(ctrl, cl->c, cause);

	cl->releasing = 1;
	cl->auto_stage = 0;
	if (!res && !cl->outgoing && !cl->responded && cause_gets_release_complete(cause)) {
		/* libpri sent RELEASE COMPLETE and freed the call; no event follows. */
		call_forget(cl);
	}
	return res;
}

/* ------------------------------------------------------------------------ */
/* Events */

static void handle_event(pri_event *e)
{
	struct json j;
	struct call *cl;
	int ch;

	switch (e->e) {
	case PRI_EVENT_DCHAN_UP:
		dchan_up = 1;
		emit_simple("dchan_up");
		break;
	case PRI_EVENT_DCHAN_DOWN:
		dchan_up = 0;
		emit_simple("dchan_down");
		break;
	case PRI_EVENT_RESTART:
		j_begin(&j, "restart");
		j_int(&j, "channel", chan_of(e->restart.channel));
		j_int(&j, "channel_raw", e->restart.channel);
		j_end(&j);
		break;
	case PRI_EVENT_RESTART_ACK:
		j_begin(&j, "restart_ack");
		j_int(&j, "channel", chan_of(e->restartack.channel));
		j_int(&j, "channel_raw", e->restartack.channel);
		j_end(&j);
		break;
	case PRI_EVENT_CONFIG_ERR:
		j_begin(&j, "error");
		j_str(&j, "msg", e->err.err);
		j_str(&j, "source", "libpri");
		j_end(&j);
		break;
	case PRI_EVENT_RING:
		ch = chan_of(e->ring.channel);
		cl = call_add(e->ring.call, 0, ch > 0 ? ch : 0);
		if (cl && cl->channel <= 0)
			cl->channel = free_channel();
		if (cl)
			cl->cref = e->ring.cref;
		j_begin(&j, "ring");
		j_call(&j, cl);
		j_str(&j, "called", e->ring.callednum);
		j_str(&j, "calling", e->ring.callingnum);
		j_str(&j, "calling_name", e->ring.callingname);
		j_int(&j, "pres", e->ring.callingpres);
		/* The name's own presentation: libpri passes a restricted name
		 * through (NI2 from the user side, Q.SIG); -1: no name. */
		j_int(&j, "calling_name_pres",
			e->ring.calling.name.valid ? e->ring.calling.name.presentation : -1);
		j_int(&j, "channel", ch);
		j_bool(&j, "exclusive", !e->ring.flexible);
		j_bool(&j, "complete", e->ring.complete);
		j_int(&j, "calling_plan", e->ring.callingplan);
		j_int(&j, "called_plan", e->ring.calledplan);
		j_int(&j, "ctype", e->ring.ctype);
		j_int(&j, "layer1", e->ring.layer1);
		j_int(&j, "cref", e->ring.cref);
		if (e->ring.callingani[0])
			j_str(&j, "ani", e->ring.callingani);
		if (e->ring.redirectingnum[0]) {
			j_str(&j, "redirecting", e->ring.redirectingnum);
			j_int(&j, "redirecting_reason", e->ring.redirectingreason);
		}
		if (e->ring.keypad_digits[0])
			j_str(&j, "keypad", e->ring.keypad_digits);
		if (e->ring.useruserinfo[0])
			j_str(&j, "uui", e->ring.useruserinfo);
		j_subcmds(&j, e->ring.subcmds);
		j_end(&j);
		if (!cl) {
			emit_error("call table full; rejecting the call");
			pri_hangup(ctrl, e->ring.call, PRI_CAUSE_NORMAL_CIRCUIT_CONGESTION);
			break;
		}
		if (opt.auto_answer_ms >= 0) {
			if (opt.overlap && !e->ring.complete) {
				/* Wait for digits; answer when none came for MS. */
				if (!pri_setup_ack(ctrl, cl->c, cl->channel, 0, 0))
					cl->responded = 1;
				cl->auto_stage = 1;
			} else {
				do_proceeding(cl);
				do_alerting(cl);
				cl->auto_stage = 2;
			}
			cl->auto_due_ms = now_ms() + opt.auto_answer_ms;
		}
		break;
	case PRI_EVENT_HANGUP:
		/* Final clearing (RELEASE or RELEASE COMPLETE received, or a timer).
		 * The call stays allocated in libpri until we pri_hangup it. */
		cl = call_by_ptr(e->hangup.call);
		j_begin(&j, "hangup");
		j_call(&j, cl);
		j_int(&j, "cause", e->hangup.cause);
		j_int(&j, "channel", chan_of(e->hangup.channel));
		j_int(&j, "cref", e->hangup.cref);
		if (e->hangup.useruserinfo[0])
			j_str(&j, "uui", e->hangup.useruserinfo);
		j_subcmds(&j, e->hangup.subcmds);
		j_end(&j);
		pri_hangup(ctrl, e->hangup.call, e->hangup.cause);
		call_forget(cl);
		break;
	case PRI_EVENT_HANGUP_REQ:
		/* DISCONNECT received: clear with the same cause, as chan_dahdi does. */
		cl = call_by_ptr(e->hangup.call);
		j_begin(&j, "hangup_req");
		j_call(&j, cl);
		j_int(&j, "cause", e->hangup.cause);
		j_int(&j, "channel", chan_of(e->hangup.channel));
		j_int(&j, "cref", e->hangup.cref);
		j_subcmds(&j, e->hangup.subcmds);
		j_end(&j);
		if (cl) {
			do_hangup(cl, e->hangup.cause);
		} else {
			pri_hangup(ctrl, e->hangup.call, e->hangup.cause);
		}
		break;
	case PRI_EVENT_HANGUP_ACK:
		/* Clearing we started is complete; libpri has freed the call. */
		cl = call_by_ptr(e->hangup.call);
		j_begin(&j, "hangup_ack");
		j_call(&j, cl);
		j_int(&j, "cause", e->hangup.cause);
		j_int(&j, "channel", chan_of(e->hangup.channel));
		j_int(&j, "cref", e->hangup.cref);
		j_end(&j);
		call_forget(cl);
		break;
	case PRI_EVENT_RINGING:
		cl = call_by_ptr(e->ringing.call);
		ch = chan_of(e->ringing.channel);
		if (cl && ch > 0)
			cl->channel = ch;
		j_begin(&j, "ringing");
		j_call(&j, cl);
		j_int(&j, "channel", ch);
		j_int(&j, "progressmask", e->ringing.progressmask);
		j_subcmds(&j, e->ringing.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_ANSWER:
		cl = call_by_ptr(e->answer.call);
		ch = chan_of(e->answer.channel);
		if (cl) {
			cl->answered = 1;
			if (ch > 0)
				cl->channel = ch;
		}
		j_begin(&j, "answer");
		j_call(&j, cl);
		j_int(&j, "channel", ch);
		j_int(&j, "progressmask", e->answer.progressmask);
		j_subcmds(&j, e->answer.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_CONNECT_ACK:
		cl = call_by_ptr(e->connect_ack.call);
		j_begin(&j, "connect_ack");
		j_call(&j, cl);
		j_int(&j, "channel", chan_of(e->connect_ack.channel));
		j_end(&j);
		break;
	case PRI_EVENT_PROCEEDING:
	case PRI_EVENT_PROGRESS:
		cl = call_by_ptr(e->proceeding.call);
		ch = chan_of(e->proceeding.channel);
		if (cl && ch > 0)
			cl->channel = ch;
		j_begin(&j, e->e == PRI_EVENT_PROCEEDING ? "proceeding" : "progress");
		j_call(&j, cl);
		j_int(&j, "channel", ch);
		j_int(&j, "progressmask", e->proceeding.progressmask);
		if (e->e == PRI_EVENT_PROGRESS)
			j_int(&j, "cause", e->proceeding.cause);
		j_subcmds(&j, e->proceeding.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_SETUP_ACK:
		cl = call_by_ptr(e->setup_ack.call);
		ch = chan_of(e->setup_ack.channel);
		if (cl && ch > 0)
			cl->channel = ch;
		j_begin(&j, "setup_ack");
		j_call(&j, cl);
		j_int(&j, "channel", ch);
		j_int(&j, "progressmask", e->setup_ack.progressmask);
		j_subcmds(&j, e->setup_ack.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_INFO_RECEIVED:
		/* libpri reports INFORMATION (overlap digits) in the ring view. */
		cl = call_by_ptr(e->ring.call);
		j_begin(&j, "info_received");
		j_call(&j, cl);
		j_str(&j, "digits", e->ring.callednum);
		j_bool(&j, "complete", e->ring.complete);
		j_subcmds(&j, e->ring.subcmds);
		j_end(&j);
		if (cl && cl->auto_stage == 1)
			cl->auto_due_ms = now_ms() + opt.auto_answer_ms;
		break;
	case PRI_EVENT_KEYPAD_DIGIT:
		cl = call_by_ptr(e->digit.call);
		j_begin(&j, "keypad_digit");
		j_call(&j, cl);
		j_str(&j, "digits", e->digit.digits);
		j_end(&j);
		break;
	case PRI_EVENT_FACILITY:
		cl = call_by_ptr(e->facility.call);
		j_begin(&j, "facility");
		j_call(&j, cl);
		j_int(&j, "channel", chan_of(e->facility.channel));
		if (e->facility.callingname[0])
			j_str(&j, "calling_name", e->facility.callingname);
		if (e->facility.callingnum[0])
			j_str(&j, "calling", e->facility.callingnum);
		j_subcmds(&j, e->facility.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_NOTIFY:
		cl = call_by_ptr(e->notify.call);
		j_begin(&j, "notify");
		j_call(&j, cl);
		j_int(&j, "channel", chan_of(e->notify.channel));
		j_int(&j, "info", e->notify.info);
		j_subcmds(&j, e->notify.subcmds);
		j_end(&j);
		break;
	case PRI_EVENT_SERVICE:
	case PRI_EVENT_SERVICE_ACK:
		j_begin(&j, e->e == PRI_EVENT_SERVICE ? "service" : "service_ack");
		j_int(&j, "channel", chan_of(e->service.channel));
		j_int(&j, "changestatus", e->service.changestatus);
		j_end(&j);
		break;
	case PRI_EVENT_HOLD:
	case PRI_EVENT_HOLD_ACK:
	case PRI_EVENT_RETRIEVE_ACK:
		cl = call_by_ptr(e->hold.call);
		j_begin(&j, e->e == PRI_EVENT_HOLD ? "hold"
			: e->e == PRI_EVENT_HOLD_ACK ? "hold_ack" : "retrieve_ack");
		j_call(&j, cl);
		j_int(&j, "channel", chan_of(e->hold.channel));
		j_end(&j);
		break;
	case PRI_EVENT_HOLD_REJ:
	case PRI_EVENT_RETRIEVE_REJ:
		cl = call_by_ptr(e->hold_rej.call);
		j_begin(&j, e->e == PRI_EVENT_HOLD_REJ ? "hold_rej" : "retrieve_rej");
		j_call(&j, cl);
		j_int(&j, "cause", e->hold_rej.cause);
		j_end(&j);
		break;
	case PRI_EVENT_RETRIEVE:
		cl = call_by_ptr(e->retrieve.call);
		j_begin(&j, "retrieve");
		j_call(&j, cl);
		j_int(&j, "channel", chan_of(e->retrieve.channel));
		j_end(&j);
		break;
	default:
		j_begin(&j, "unknown");
		j_int(&j, "code", e->e);
		j_str(&j, "name", pri_event2str(e->e));
		j_end(&j);
		break;
	}
}

/* ------------------------------------------------------------------------ */
/* Commands */

#define MAX_TOKENS 32

/* Split a line into words; "double quotes" group words (no escapes). */
static int tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;

	while (*p && n < max) {
		while (*p && isspace((unsigned char) *p))
			p++;
		if (!*p)
			break;
		if (*p == '"') {
			tok[n++] = ++p;
			while (*p && *p != '"')
				p++;
		} else {
			tok[n++] = p;
			while (*p && !isspace((unsigned char) *p))
				p++;
		}
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || *end || v < -2147483647L || v > 2147483647L)
		return -1;
	*out = (int) v;
	return 0;
}

/* The call named by tok (a call id), or the newest one if tok is NULL. */
static struct call *pick_call(const char *cmd, const char *tok)
{
	struct call *cl;
	int id;

	if (tok) {
		if (parse_int(tok, &id)) {
			emit_error("%s: bad call id '%s'", cmd, tok);
			return NULL;
		}
		cl = call_by_id(id);
		if (!cl)
			emit_error("%s: no call %d", cmd, id);
		return cl;
	}
	cl = call_latest();
	if (!cl)
		emit_error("%s: no call", cmd);
	return cl;
}

static void cmd_call(char **tok, int n)
{
	char called[64], calling[64], name[64];
	int pres = PRES_ALLOWED_USER_NUMBER_NOT_SCREENED;
	int chan = 0, overlap = 0, plan = PRI_UNKNOWN, exclusive = 1, i, res;
	int have_name = 0;
	struct pri_sr *sr;
	q931_call *c;
	struct call *cl;
	struct json j;

	if (n < 3) {
		emit_error("usage: call CALLED CALLING [name NAME] [pres allowed|restricted] [chan N] [overlap] [plan N]");
		return;
	}
	snprintf(called, sizeof(called), "%s", tok[1]);
	snprintf(calling, sizeof(calling), "%s", tok[2]);
	name[0] = '\0';
	for (i = 3; i < n; i++) {
		if (!strcmp(tok[i], "overlap")) {
			overlap = 1;
		} else if (!strcmp(tok[i], "preferred")) {
			exclusive = 0;
		} else if (i + 1 < n && !strcmp(tok[i], "name")) {
			snprintf(name, sizeof(name), "%s", tok[++i]);
			have_name = 1;
		} else if (i + 1 < n && !strcmp(tok[i], "pres")) {
			i++;
			if (!strcmp(tok[i], "allowed"))
				pres = PRES_ALLOWED_USER_NUMBER_NOT_SCREENED;
			else if (!strcmp(tok[i], "restricted"))
				pres = PRES_PROHIB_USER_NUMBER_NOT_SCREENED;
			else if (parse_int(tok[i], &pres)) {
				emit_error("call: pres must be allowed, restricted or a number");
				return;
			}
		} else if (i + 1 < n && !strcmp(tok[i], "chan")) {
			if (parse_int(tok[++i], &chan) || chan < 0 || chan > 31) {
				emit_error("call: bad channel '%s'", tok[i]);
				return;
			}
		} else if (i + 1 < n && !strcmp(tok[i], "plan")) {
			if (parse_int(tok[++i], &plan)) {
				emit_error("call: bad plan '%s'", tok[i]);
				return;
			}
		} else {
			emit_error("call: unknown argument '%s'", tok[i]);
			return;
		}
	}
	if (!chan)
		chan = free_channel();

	c = pri_new_call(ctrl);
	if (!c) {
		emit_error("call: pri_new_call failed");
		return;
	}
	sr = pri_sr_new();
	if (!sr) {
		pri_destroycall(ctrl, c);
		emit_error("call: pri_sr_new failed");
		return;
	}
	pri_sr_set_channel(sr, chan, exclusive, 0);
	pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, opt.layer1);
	pri_sr_set_called(sr, called, plan, overlap ? 0 : 1);
	pri_sr_set_caller(sr, calling, have_name ? name : NULL, plan, pres);
	res = pri_setup(ctrl, c, sr);
	pri_sr_free(sr);
	if (res) {
		/* libpri never sent the SETUP; the call is ours to free. */
		pri_destroycall(ctrl, c);
		emit_error("call: pri_setup failed");
		return;
	}
	cl = call_add(c, 1, chan);
	if (!cl) {
		pri_hangup(ctrl, c, PRI_CAUSE_NORMAL_CLEARING);
		emit_error("call: call table full");
		return;
	}
	cl->responded = 1;
	j_begin(&j, "dialing");
	j_call(&j, cl);
	j_str(&j, "called", called);
	j_str(&j, "calling", calling);
	j_int(&j, "channel", chan);
	j_end(&j);
}

/* Causes libpri 1.6 sends as RELEASE COMPLETE when we have not yet replied
 * to an incoming SETUP (state Call Present), with or without the hangup fix
 * (__q931_hangup). */
static int cause_gets_release_complete(int cause)
{
	switch (cause) {
	case PRI_CAUSE_UNALLOCATED:
	case PRI_CAUSE_NORMAL_CIRCUIT_CONGESTION:
	case PRI_CAUSE_REQUESTED_CHAN_UNAVAIL:
	case PRI_CAUSE_INVALID_CALL_REFERENCE:
	case PRI_CAUSE_IDENTIFIED_CHANNEL_NOTEXIST:
	case PRI_CAUSE_INCOMPATIBLE_DESTINATION:
		return 1;
	default:
		return 0;
	}
}

static void cmd_hangup(char **tok, int n)
{
	int cause;
	struct call *cl;

	if (n < 2 || parse_int(tok[1], &cause) || cause < 0 || cause > 127) {
		emit_error("usage: hangup CAUSE [CALLID]");
		return;
	}
	cl = pick_call("hangup", n > 2 ? tok[2] : NULL);
	if (!cl)
		return;
	if (cl->releasing) {
		emit_error("hangup: call %d is already being released", cl->id);
		return;
	}
	if (!cl->outgoing && !cl->responded && !cause_gets_release_complete(cause)) {
		/* libpri 1.6 would move the call to Disconnect Request and send
		 * nothing at all (q931_disconnect needs c->alive, which only a
		 * reply sets). Refuse, so the call is not silently wedged. */
		emit_error("hangup: libpri 1.6 sends nothing for cause %d before any reply to "
			"the SETUP of call %d; send proceeding/alerting first, or use cause "
			"1, 34, 44, 81, 82 or 88 (RELEASE COMPLETE)", cause, cl->id);
		return;
	}
	if (do_hangup(cl, cause))
		emit_error("hangup: pri_hangup failed for call %d", cl->id);
}

static void cmd_restart(char **tok, int n)
{
	int chan;

	if (n < 2) {
		emit_error("restart: a channel is needed; libpri 1.6 can only send RESTART "
			"for one indicated channel (pri_reset), not for the whole interface");
		return;
	}
	if (parse_int(tok[1], &chan) || chan <= 0 || chan > 31) {
		emit_error("restart: bad channel '%s'", tok[1]);
		return;
	}
	if (pri_reset(ctrl, chan))
		emit_error("restart: pri_reset(%d) failed", chan);
}

static void cmd_status(void)
{
	struct json j;
	int i, first = 1;
	char tmp[32];

	j_begin(&j, "status");
	j_str(&j, "role", opt.role);
	j_str(&j, "switch", opt.switchname);
	j_bool(&j, "connected", ctrl != NULL);
	j_bool(&j, "dchan_up", dchan_up);
	j_key(&j, "calls");
	j_puts(&j, "[");
	for (i = 0; i < MAX_CALLS; i++) {
		struct call *cl = &calls[i];

		if (!cl->used)
			continue;
		if (!first)
			j_puts(&j, ",");
		first = 0;
		snprintf(tmp, sizeof(tmp), "{\"call\":%d", cl->id);
		j_puts(&j, tmp);
		j_str(&j, "direction", cl->outgoing ? "out" : "in");
		j_int(&j, "channel", cl->channel);
		j_bool(&j, "answered", cl->answered);
		j_bool(&j, "releasing", cl->releasing);
		j_puts(&j, "}");
	}
	j_puts(&j, "]");
	j_end(&j);
	if (ctrl) {
		char *info = pri_dump_info_str(ctrl);

		if (info) {
			fprintf(stderr, "%s", info);
			free(info);
		}
	}
}

/* Returns 1 when the command asks us to quit. */
static int handle_command(char *line)
{
	char *tok[MAX_TOKENS];
	int n = tokenize(line, tok, MAX_TOKENS);
	struct call *cl;
	const char *cmd;
	size_t i;

	if (n == 0 || tok[0][0] == '#')
		return 0;
	cmd = tok[0];
	if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit"))
		return 1;
	if (!strcmp(cmd, "status")) {
		cmd_status();
		return 0;
	}
	if (!ctrl) {
		emit_error("%s: not connected yet", cmd);
		return 0;
	}
	if (!strcmp(cmd, "call")) {
		cmd_call(tok, n);
	} else if (!strcmp(cmd, "answer")) {
		if ((cl = pick_call(cmd, n > 1 ? tok[1] : NULL))) {
			cl->auto_stage = 0;
			if (do_answer(cl))
				emit_error("answer: pri_answer failed for call %d", cl->id);
		}
	} else if (!strcmp(cmd, "proceeding")) {
		if ((cl = pick_call(cmd, n > 1 ? tok[1] : NULL)) && do_proceeding(cl))
			emit_error("proceeding: pri_proceeding failed for call %d", cl->id);
	} else if (!strcmp(cmd, "alerting")) {
		if ((cl = pick_call(cmd, n > 1 ? tok[1] : NULL)) && do_alerting(cl))
			emit_error("alerting: pri_acknowledge failed for call %d", cl->id);
	} else if (!strcmp(cmd, "progress")) {
		/* libpri wants a progress indicator in PROGRESS: inband available. */
		if ((cl = pick_call(cmd, n > 1 ? tok[1] : NULL))) {
			if (pri_progress(ctrl, cl->c, cl->channel, 1))
				emit_error("progress: pri_progress failed for call %d", cl->id);
			else
				cl->responded = 1;
		}
	} else if (!strcmp(cmd, "setup_ack")) {
		if ((cl = pick_call(cmd, n > 1 ? tok[1] : NULL))) {
			if (pri_setup_ack(ctrl, cl->c, cl->channel, 0, 0))
				emit_error("setup_ack: pri_setup_ack failed for call %d", cl->id);
			else
				cl->responded = 1;
		}
	} else if (!strcmp(cmd, "hangup")) {
		cmd_hangup(tok, n);
	} else if (!strcmp(cmd, "info") || !strcmp(cmd, "keypad")) {
		if (n < 2) {
			emit_error("usage: %s DIGITS [CALLID]", cmd);
		} else if ((cl = pick_call(cmd, n > 2 ? tok[2] : NULL))) {
			if (!strcmp(cmd, "keypad")) {
				if (pri_keypad_facility(ctrl, cl->c, tok[1]))
					emit_error("keypad: pri_keypad_facility failed for call %d", cl->id);
			} else {
				for (i = 0; tok[1][i]; i++) {
					if (pri_information(ctrl, cl->c, tok[1][i])) {
						emit_error("info: pri_information failed for call %d", cl->id);
						break;
					}
				}
			}
		}
	} else if (!strcmp(cmd, "restart")) {
		cmd_restart(tok, n);
	} else {
		emit_error("unknown command '%s'", cmd);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Sockets */

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		fprintf(stderr, "libpri-peer: socket path too long: %s\n", path);
		return -1;
	}
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

static int start_listen(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (fill_addr(&sa, path))
		return -1;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		emit_error("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) || listen(fd, 1)) {
		emit_error("listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int do_connect(const char *path)
{
	struct sockaddr_un sa;
	long long deadline = now_ms() + CONNECT_RETRY_MS;
	int fd;

	if (fill_addr(&sa, path))
		return -1;
	for (;;) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			emit_error("socket: %s", strerror(errno));
			return -1;
		}
		if (!connect(fd, (struct sockaddr *) &sa, sizeof(sa)))
			return fd;
		if ((errno != ENOENT && errno != ECONNREFUSED) || now_ms() >= deadline) {
			emit_error("connect to %s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
		usleep(20000);
	}
}

/* Create the libpri controller once the socket is connected. */
static int start_pri(void)
{
	struct json j;
	int i, idx;

	ctrl = pri_new_cb(sock_fd, opt.nodetype, opt.switchtype, io_read, io_write, NULL);
	if (!ctrl) {
		emit_error("pri_new_cb failed");
		return -1;
	}
	pri_set_debug(ctrl, opt.debug_mask);
	/* As chan_dahdi does: allow Facility IEs (names for NI2 and Q.SIG). */
	pri_facility_enable(ctrl);
	pri_set_overlapdial(ctrl, opt.overlap);
	if (opt.hangup_fix)
		pri_hangup_fix_enable(ctrl, 1);
	if (opt.display_send >= 0)
		pri_display_options_send(ctrl, (unsigned long) opt.display_send);
	if (opt.display_receive >= 0)
		pri_display_options_receive(ctrl, (unsigned long) opt.display_receive);
	for (i = 0; i < n_timer_settings; i++) {
		idx = pri_timer2idx(timer_settings[i].name);
		if (idx < 0 || pri_set_timer(ctrl, idx, timer_settings[i].value))
			emit_error("unknown libpri timer '%s'", timer_settings[i].name);
	}
	j_begin(&j, "connected");
	j_str(&j, "role", opt.role);
	j_str(&j, "switch", opt.switchname);
	j_end(&j);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Main loop */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: libpri-peer --role network|user --switch SWITCH (--listen PATH | --connect PATH)\n"
		"                   [--auto-answer MS] [--overlap] [--hangup-fix] [--law alaw|ulaw]\n"
		"                   [--display-send FLAGS] [--display-receive FLAGS]\n"
		"                   [--timer NAME=MS]... [--trace] [--debug] [--debug-mask N]\n"
		"FLAGS: block, name, name-update, text, or a comma list (libpri display options)\n"
		"SWITCH: ni2 dms100 4ess 5ess euroisdn-e1 euroisdn-t1 qsig ni1\n"
		"stdin commands: call CALLED CALLING [name NAME] [pres allowed|restricted] [chan N]\n"
		"                     [overlap] [preferred] [plan N]\n"
		"                answer|proceeding|alerting|progress|setup_ack [CALLID]\n"
		"                hangup CAUSE [CALLID]   info DIGITS [CALLID]   keypad DIGITS [CALLID]\n"
		"                restart CHAN   status   quit\n");
}

static void process_timers(void)
{
	pri_event *e;
	long long now = now_ms();
	int i;

	if (!ctrl)
		return;
	for (;;) {
		if (sock_failed)
			break;
		in_libpri_rx = 1;
		e = pri_schedule_run(ctrl);
		in_libpri_rx = 0;
		if (e)
			handle_event(e);
		reap_silent();
		if (!e)
			break;
	}
	for (i = 0; i < MAX_CALLS; i++) {
		struct call *cl = &calls[i];
		struct json j;

		if (!cl->used || !cl->auto_stage || cl->auto_due_ms > now)
			continue;
		if (cl->auto_stage == 1) {
			/* Overlap: no digit for MS; the number is complete. */
			do_proceeding(cl);
			do_alerting(cl);
			cl->auto_stage = 2;
			cl->auto_due_ms = now + opt.auto_answer_ms;
			continue;
		}
		cl->auto_stage = 0;
		j_begin(&j, "auto_answer");
		j_call(&j, cl);
		j_end(&j);
		if (do_answer(cl))
			emit_error("auto-answer: pri_answer failed for call %d", cl->id);
	}
}

/* Milliseconds until the next libpri timer or auto-answer; -1: none. */
static int poll_timeout(void)
{
	long long best = -1, now = now_ms(), t;
	struct timeval *tv, cur;
	int i;

	if (ctrl && (tv = pri_schedule_next(ctrl))) {
		gettimeofday(&cur, NULL);
		t = (long long) (tv->tv_sec - cur.tv_sec) * 1000 + (tv->tv_usec - cur.tv_usec + 999) / 1000;
		best = t < 0 ? 0 : t;
	}
	for (i = 0; i < MAX_CALLS; i++) {
		if (calls[i].used && calls[i].auto_stage) {
			t = calls[i].auto_due_ms - now;
			if (t < 0)
				t = 0;
			if (best < 0 || t < best)
				best = t;
		}
	}
	if (best > 60000)
		best = 60000;
	return (int) best;
}

static void read_socket(void)
{
	pri_event *e;
	int i;

	/* One frame per pri_check_event; drain what is queued, boundedly. */
	for (i = 0; i < 64 && !sock_failed; i++) {
		read_got_data = 0;
		in_libpri_rx = 1;
		e = pri_check_event(ctrl);
		in_libpri_rx = 0;
		if (e)
			handle_event(e);
		reap_silent();
		if (!read_got_data)
			break;
	}
}

/* Hang up what is still up, as `quit` promises. */
static void hangup_all(void)
{
	int i;

	for (i = 0; i < MAX_CALLS; i++) {
		struct call *cl = &calls[i];

		if (!cl->used || cl->releasing)
			continue;
		if (!cl->outgoing && !cl->responded)
			do_hangup(cl, PRI_CAUSE_NORMAL_CIRCUIT_CONGESTION);
		else
			do_hangup(cl, PRI_CAUSE_NORMAL_CLEARING);
	}
}

static char stdin_buf[8192];
static size_t stdin_len;

/* Read stdin; run complete lines. Returns 1 on quit or EOF. */
static int read_stdin(void)
{
	ssize_t n;
	char *nl;

	n = read(STDIN_FILENO, stdin_buf + stdin_len, sizeof(stdin_buf) - 1 - stdin_len);
	if (n < 0)
		return (errno == EINTR || errno == EAGAIN) ? 0 : 1;
	if (n == 0) {
		/* EOF: run a last unterminated line, then quit. */
		if (stdin_len) {
			stdin_buf[stdin_len] = '\0';
			stdin_len = 0;
			handle_command(stdin_buf);
		}
		return 1;
	}
	stdin_len += (size_t) n;
	while ((nl = memchr(stdin_buf, '\n', stdin_len))) {
		size_t linelen = (size_t) (nl - stdin_buf);
		int quit;

		*nl = '\0';
		if (linelen && stdin_buf[linelen - 1] == '\r')
			stdin_buf[linelen - 1] = '\0';
		quit = handle_command(stdin_buf);
		memmove(stdin_buf, nl + 1, stdin_len - linelen - 1);
		stdin_len -= linelen + 1;
		if (quit || sock_failed)
			return quit;
	}
	if (stdin_len >= sizeof(stdin_buf) - 1) {
		emit_error("command line too long; dropped");
		stdin_len = 0;
	}
	return 0;
}

static void finish(int status)
{
	if (listen_fd >= 0)
		close(listen_fd);
	if (sock_fd >= 0)
		close(sock_fd);
	if (opt.listen_path)
		unlink(opt.listen_path);
	emit_exit(status);
	exit(status);
}

static void parse_args(int argc, char **argv)
{
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(EXIT_OK);
		} else if (!strcmp(a, "--overlap")) {
			opt.overlap = 1;
		} else if (!strcmp(a, "--hangup-fix")) {
			opt.hangup_fix = 1;
		} else if (!strcmp(a, "--trace")) {
			opt.trace = 1;
		} else if (!strcmp(a, "--debug")) {
			opt.debug_mask = PRI_DEBUG_Q921_STATE | PRI_DEBUG_Q931_DUMP
				| PRI_DEBUG_Q931_STATE | PRI_DEBUG_Q931_ANOMALY;
		} else if (!v) {
			fprintf(stderr, "libpri-peer: %s needs a value or is unknown\n", a);
			usage(stderr);
			exit(EXIT_USAGE);
		} else if (!strcmp(a, "--role")) {
			i++;
			if (!strcmp(v, "network")) {
				opt.nodetype = PRI_NETWORK;
			} else if (!strcmp(v, "user")) {
				opt.nodetype = PRI_CPE;
			} else {
				fprintf(stderr, "libpri-peer: --role must be network or user\n");
				exit(EXIT_USAGE);
			}
			opt.role = v;
		} else if (!strcmp(a, "--switch")) {
			i++;
			for (k = 0; k < sizeof(switch_names) / sizeof(switch_names[0]); k++) {
				if (!strcmp(v, switch_names[k].name)) {
					opt.switchtype = switch_names[k].type;
					opt.switchname = switch_names[k].name;
				}
			}
			if (opt.switchtype < 0) {
				fprintf(stderr, "libpri-peer: unknown switch type '%s'\n", v);
				usage(stderr);
				exit(EXIT_USAGE);
			}
		} else if (!strcmp(a, "--listen")) {
			i++;
			opt.listen_path = v;
		} else if (!strcmp(a, "--connect")) {
			i++;
			opt.connect_path = v;
		} else if (!strcmp(a, "--auto-answer")) {
			i++;
			if (parse_int(v, &opt.auto_answer_ms) || opt.auto_answer_ms < 0) {
				fprintf(stderr, "libpri-peer: bad --auto-answer '%s'\n", v);
				exit(EXIT_USAGE);
			}
		} else if (!strcmp(a, "--law")) {
			i++;
			if (!strcmp(v, "alaw"))
				opt.layer1 = PRI_LAYER_1_ALAW;
			else if (!strcmp(v, "ulaw"))
				opt.layer1 = PRI_LAYER_1_ULAW;
			else {
				fprintf(stderr, "libpri-peer: --law must be alaw or ulaw\n");
				exit(EXIT_USAGE);
			}
		} else if (!strcmp(a, "--display-send") || !strcmp(a, "--display-receive")) {
			long flags = parse_display(v);

			i++;
			if (flags < 0) {
				fprintf(stderr, "libpri-peer: %s wants block, name, name-update, text "
					"or a comma list of them\n", a);
				exit(EXIT_USAGE);
			}
			if (!strcmp(a, "--display-send"))
				opt.display_send = flags;
			else
				opt.display_receive = flags;
		} else if (!strcmp(a, "--debug-mask")) {
			i++;
			if (parse_int(v, &opt.debug_mask)) {
				fprintf(stderr, "libpri-peer: bad --debug-mask '%s'\n", v);
				exit(EXIT_USAGE);
			}
		} else if (!strcmp(a, "--timer")) {
			const char *eq = strchr(v, '=');
			struct timer_setting *ts;

			i++;
			if (!eq || eq == v || (size_t) (eq - v) >= sizeof(ts->name)
				|| n_timer_settings >= (int) (sizeof(timer_settings) / sizeof(timer_settings[0]))) {
				fprintf(stderr, "libpri-peer: --timer wants NAME=MS (e.g. T200=500)\n");
				exit(EXIT_USAGE);
			}
			ts = &timer_settings[n_timer_settings];
			memcpy(ts->name, v, (size_t) (eq - v));
			ts->name[eq - v] = '\0';
			if (parse_int(eq + 1, &ts->value) || ts->value < 0) {
				fprintf(stderr, "libpri-peer: bad timer value in '%s'\n", v);
				exit(EXIT_USAGE);
			}
			n_timer_settings++;
		} else {
			fprintf(stderr, "libpri-peer: unknown option %s\n", a);
			usage(stderr);
			exit(EXIT_USAGE);
		}
	}
	if (!opt.nodetype || opt.switchtype < 0 || (!opt.listen_path == !opt.connect_path)) {
		fprintf(stderr, "libpri-peer: --role, --switch and one of --listen/--connect are required\n");
		usage(stderr);
		exit(EXIT_USAGE);
	}
	if (!opt.layer1)
		opt.layer1 = (opt.switchtype == PRI_SWITCH_EUROISDN_E1 || opt.switchtype == PRI_SWITCH_QSIG)
			? PRI_LAYER_1_ALAW : PRI_LAYER_1_ULAW;
}

int main(int argc, char **argv)
{
	struct pollfd pfd[2];
	int quitting = 0, stdin_open = 1;
	long long quit_deadline = 0;
	struct json j;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv);
	pri_set_message(pri_msg_cb);
	pri_set_error(pri_err_cb);

	if (opt.listen_path) {
		listen_fd = start_listen(opt.listen_path);
		if (listen_fd < 0)
			finish(EXIT_SOCKET);
		j_begin(&j, "listening");
		j_str(&j, "path", opt.listen_path);
		j_end(&j);
	} else {
		sock_fd = do_connect(opt.connect_path);
		if (sock_fd < 0)
			finish(EXIT_SOCKET);
		if (start_pri())
			finish(EXIT_LIBPRI);
	}

	for (;;) {
		int nfds = 0, to, sock_idx = -1, stdin_idx = -1, r;

		if (quitting) {
			if (!ctrl || !active_calls() || now_ms() >= quit_deadline || sock_failed)
				break;
		}
		if (stdin_open && !quitting) {
			stdin_idx = nfds;
			pfd[nfds].fd = STDIN_FILENO;
			pfd[nfds].events = POLLIN;
			nfds++;
		}
		if (ctrl || listen_fd >= 0) {
			sock_idx = nfds;
			pfd[nfds].fd = ctrl ? sock_fd : listen_fd;
			pfd[nfds].events = POLLIN;
			nfds++;
		}
		to = poll_timeout();
		if (quitting) {
			long long left = quit_deadline - now_ms();

			if (left < 0)
				left = 0;
			if (to < 0 || to > left)
				to = (int) left;
		}
		r = poll(pfd, (nfds_t) nfds, to);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			emit_error("poll: %s", strerror(errno));
			finish(EXIT_SOCKET);
		}

		if (sock_idx >= 0 && pfd[sock_idx].revents) {
			if (ctrl) {
				read_socket();
			} else {
				sock_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (sock_fd < 0) {
					if (errno != EINTR && errno != EAGAIN) {
						emit_error("accept: %s", strerror(errno));
						finish(EXIT_SOCKET);
					}
				} else {
					close(listen_fd);
					listen_fd = -1;
					if (start_pri())
						finish(EXIT_LIBPRI);
				}
			}
		}
		if (!sock_failed)
			process_timers();
		if (sock_failed) {
			if (quitting && sock_failed == EXIT_CLOSED)
				break;  /* the other end went away while we were leaving */
			emit_error("%s", sock_fail_msg);
			finish(sock_failed);
		}
		if (stdin_idx >= 0 && pfd[stdin_idx].revents) {
			if (read_stdin()) {
				if (sock_failed) {
					emit_error("%s", sock_fail_msg);
					finish(sock_failed);
				}
				quitting = 1;
				stdin_open = 0;
				quit_deadline = now_ms() + QUIT_GRACE_MS;
				if (ctrl)
					hangup_all();
			}
			if (sock_failed) {
				emit_error("%s", sock_fail_msg);
				finish(sock_failed);
			}
		}
	}
	finish(EXIT_OK);
	return 0;
}
