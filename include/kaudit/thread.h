/*
 * thread.h - small helpers for kaudit's background threads.
 */
#ifndef KAUDIT_THREAD_H
#define KAUDIT_THREAD_H

/*
 * Lowers the calling thread's CPU priority to the nice value inc (1..19; higher is lower
 * priority); threads it creates afterwards inherit it (Linux). Background work (compressing
 * rotated segments, the journal's consumers) calls it so that the collector's intake, which
 * the apiserver waits for, keeps the CPU when both compete. Failure is harmless and ignored.
 */
void ka_thread_lower_priority(int inc);

/* The nice value of the collector's journal consumers (store, detection, forwarding). */
#define KA_CONSUMER_NICE 5

#endif
