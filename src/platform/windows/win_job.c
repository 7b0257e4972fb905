/*
 * win_job.c - Job Object memory limits (see win_job.h).
 */
#include "platform/windows/win_job.h"

#include <windows.h>
#include <string.h>

#include "platform/windows/win_errno.h"

static double now_seconds(void) {
  LARGE_INTEGER f, c;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (double)c.QuadPart / (double)f.QuadPart;
}

int lw_win_job_create(lw_win_job_t *job, uint64_t limit_bytes) {
  memset(job, 0, sizeof *job);
  job->first_hit_seconds = -1;
  job->limit_bytes = limit_bytes;
  job->job = CreateJobObjectW(NULL, NULL);
  if (!job->job)
    return lw_win_errno(GetLastError());
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  memset(&info, 0, sizeof info);
  /* KILL_ON_JOB_CLOSE: if leakwatch dies, the capped command does not outlive it. */
  info.BasicLimitInformation.LimitFlags =
      JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  info.ProcessMemoryLimit = (SIZE_T)limit_bytes;
  if (!SetInformationJobObject(job->job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
    int rc = lw_win_errno(GetLastError());
    lw_win_job_close(job);
    return rc;
  }
  job->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  if (job->port) {
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT assoc = {job->job, job->port};
    if (!SetInformationJobObject(job->job, JobObjectAssociateCompletionPortInformation, &assoc,
                                 sizeof assoc)) {
      CloseHandle(job->port); /* no messages: hits are then unknown, the rest works */
      job->port = NULL;
    }
  }
  return 0;
}

int lw_win_job_assign(lw_win_job_t *job, void *process) {
  if (!AssignProcessToJobObject(job->job, process))
    return lw_win_errno(GetLastError());
  job->started = now_seconds();
  return 0;
}

void lw_win_job_poll(lw_win_job_t *job, unsigned wait_ms) {
  if (!job->port)
    return;
  DWORD message;
  ULONG_PTR key;
  LPOVERLAPPED detail;
  while (GetQueuedCompletionStatus(job->port, &message, &key, &detail, wait_ms)) {
    wait_ms = 0;
    if (message == JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT ||
        message == JOB_OBJECT_MSG_JOB_MEMORY_LIMIT) {
      if (job->limit_hits++ == 0)
        job->first_hit_seconds = now_seconds() - job->started;
    }
  }
}

uint64_t lw_win_job_peak(const lw_win_job_t *job) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  memset(&info, 0, sizeof info);
  if (!QueryInformationJobObject(job->job, JobObjectExtendedLimitInformation, &info, sizeof info,
                                 NULL))
    return 0;
  return info.PeakProcessMemoryUsed;
}

bool lw_win_job_limit_in_force(const lw_win_job_t *job) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  memset(&info, 0, sizeof info);
  return QueryInformationJobObject(job->job, JobObjectExtendedLimitInformation, &info,
                                   sizeof info, NULL) &&
         (info.BasicLimitInformation.LimitFlags & JOB_OBJECT_LIMIT_PROCESS_MEMORY) &&
         info.ProcessMemoryLimit == (SIZE_T)job->limit_bytes;
}

void lw_win_job_close(lw_win_job_t *job) {
  if (job->port)
    CloseHandle(job->port);
  if (job->job)
    CloseHandle(job->job);
  job->port = job->job = NULL;
}
