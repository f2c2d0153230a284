/* Helper threads that wait for work by spinning, for the sparse products of one C-loop run.
 *
 * A mini-batch step of the C loop splits its two sparse products over the cores: two short jobs
 * (≈ 0.1 ms each) per step. An OpenMP team's waiting threads go to sleep between them and a futex
 * wake-up costs tens of µs on a virtual machine: on W2r-MNIST (784-300-10, batch 64) an epoch took
 * 0.25 s with two OpenMP threads against 0.23 s with one, and 0.14 s with OMP_WAIT_POLICY=active
 * (which would make every OpenMP team of the process spin). So the loop starts its own helpers for
 * the length of one run (a chunk of steps, ≈ 0.15 s) that spin on a ticket.
 *
 * A job comes in parts that the threads claim one at a time, the calling thread too, which then
 * waits only for the parts a helper has claimed: a helper the system has descheduled (a shared
 * machine) delays a job by at most the part it holds, never by the parts it has not yet taken.
 *
 *   fnn_team_start(team, nth)          start nth − 1 helpers; returns the threads of the team (≥ 1)
 *   fnn_team_run(team, fn, job, parts) fn(job, p, parts, t) for every part p = 0..parts−1, each by
 *                                      one thread t (0: the caller; t picks the thread's scratch)
 *   fnn_team_post(team, fn, job, parts) the same, left to the helpers while the caller goes on
 *   fnn_team_wait(team)                until the last job is done (the caller takes the parts no
 *                                      helper has claimed yet); returns at once when it is
 *   fnn_team_stop(team)                stop and join the helpers
 */
#ifndef FASTNN_SPIN_TEAM_H
#define FASTNN_SPIN_TEAM_H
#include <pthread.h>
#include <stdint.h>

#define FNN_TEAM_MAX 64

typedef void (*fnn_team_fn)(const void *job, int part, int parts, int t);

typedef struct fnn_team fnn_team_t;
typedef struct {
    fnn_team_t *team;
    int t;
} fnn_team_slot_t;

struct fnn_team {
    int nth;              /* threads of the team, the caller's included */
    fnn_team_fn fn;       /* the current job (written before its ticket is published) */
    const void *job;
    int parts;
    uint64_t ticket;      /* atomic: job number << 32 | parts claimed */
    long done;            /* atomic: parts of the current job finished */
    int quit;             /* atomic */
    pthread_t helpers[FNN_TEAM_MAX - 1];
    fnn_team_slot_t slots[FNN_TEAM_MAX - 1];
};

static inline void fnn_team_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* Claim and run parts of the job of ticket w until none is left; returns the last ticket seen.
 * A claim succeeds only while that job is current, so fn, job and parts read after the ticket
 * (published with it, replaced only once every part is done) belong to it. */
static uint64_t fnn_team_work(fnn_team_t *team, uint64_t w, int t) {
    for (;;) {
        const fnn_team_fn fn = __atomic_load_n(&team->fn, __ATOMIC_RELAXED);
        const void *job = __atomic_load_n(&team->job, __ATOMIC_RELAXED);
        const int parts = __atomic_load_n(&team->parts, __ATOMIC_RELAXED);
        const int p = (int)(w & 0xffffffffu);
        if (p >= parts) return w;
        if (__atomic_compare_exchange_n(&team->ticket, &w, w + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            fn(job, p, parts, t);
            __atomic_add_fetch(&team->done, 1, __ATOMIC_RELEASE);
            w = __atomic_load_n(&team->ticket, __ATOMIC_ACQUIRE);
        } /* else w holds the ticket now */
    }
}

static void *fnn_team_helper(void *arg) {
    const fnn_team_slot_t *slot = (const fnn_team_slot_t *)arg;
    fnn_team_t *team = slot->team;
    uint64_t seen = __atomic_load_n(&team->ticket, __ATOMIC_ACQUIRE), w;
    for (;;) {
        while ((w = __atomic_load_n(&team->ticket, __ATOMIC_ACQUIRE)) == seen) {
            if (__atomic_load_n(&team->quit, __ATOMIC_ACQUIRE)) return NULL;
            fnn_team_pause();
        }
        seen = fnn_team_work(team, w, slot->t);
    }
}

static int fnn_team_start(fnn_team_t *team, int nth) {
    if (nth > FNN_TEAM_MAX) nth = FNN_TEAM_MAX;
    team->nth = 1;
    team->fn = NULL;
    team->job = NULL;
    team->parts = 0;
    team->ticket = 0;
    team->done = 0;
    team->quit = 0;
    for (int t = 1; t < nth; t++) {  /* a helper that cannot start leaves the team smaller */
        team->slots[t - 1].team = team;
        team->slots[t - 1].t = t;
        if (pthread_create(&team->helpers[t - 1], NULL, fnn_team_helper, &team->slots[t - 1]) != 0) break;
        team->nth = t + 1;
    }
    return team->nth;
}

static void fnn_team_post(fnn_team_t *team, fnn_team_fn fn, const void *job, int parts) {
    const uint64_t w = ((team->ticket >> 32) + 1) << 32;  /* only this thread publishes tickets */
    __atomic_store_n(&team->fn, fn, __ATOMIC_RELAXED);
    __atomic_store_n(&team->job, job, __ATOMIC_RELAXED);
    __atomic_store_n(&team->parts, parts, __ATOMIC_RELAXED);
    __atomic_store_n(&team->done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&team->ticket, w, __ATOMIC_RELEASE);  /* publishes the job */
}

static void fnn_team_wait(fnn_team_t *team) {
    fnn_team_work(team, __atomic_load_n(&team->ticket, __ATOMIC_ACQUIRE), 0);
    while (__atomic_load_n(&team->done, __ATOMIC_ACQUIRE) < team->parts) fnn_team_pause();
}

static void fnn_team_run(fnn_team_t *team, fnn_team_fn fn, const void *job, int parts) {
    fnn_team_post(team, fn, job, parts);
    fnn_team_wait(team);
}

static void fnn_team_stop(fnn_team_t *team) {
    __atomic_store_n(&team->quit, 1, __ATOMIC_RELEASE);
    for (int t = 1; t < team->nth; t++) pthread_join(team->helpers[t - 1], NULL);
    team->nth = 1;
}

#endif
