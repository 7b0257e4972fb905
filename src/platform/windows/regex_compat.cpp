// regex_compat.cpp - compat/regex.h over std::regex (Windows build only; see the header).
// Errors are kept per thread so regerror can name what std::regex disliked.
#include "regex.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <regex>
#include <string>

static thread_local std::string last_error;

extern "C" int regcomp(regex_t *preg, const char *pattern, int cflags) {
  auto flags = std::regex::extended;
  if (cflags & REG_ICASE)
    flags |= std::regex::icase;
  if (cflags & REG_NOSUB)
    flags |= std::regex::nosubs;
  try {
    auto *re = new std::regex(pattern, flags);
    preg->impl = re;
    preg->re_nsub = re->mark_count();
    return 0;
  } catch (const std::regex_error &e) {
    last_error = e.what();
    preg->impl = nullptr;
    return REG_BADPAT;
  } catch (const std::bad_alloc &) {
    last_error = "out of memory";
    preg->impl = nullptr;
    return REG_ESPACE;
  }
}

extern "C" int regexec(const regex_t *preg, const char *string, size_t nmatch,
                       regmatch_t pmatch[], int eflags) {
  auto *re = static_cast<const std::regex *>(preg->impl);
  if (!re)
    return REG_BADPAT;
  auto flags = std::regex_constants::match_default;
  if (eflags & REG_NOTBOL)
    flags |= std::regex_constants::match_not_bol;
  if (eflags & REG_NOTEOL)
    flags |= std::regex_constants::match_not_eol;
  try {
    std::cmatch m;
    if (!std::regex_search(string, m, *re, flags))
      return REG_NOMATCH;
    if (nmatch > 0 && pmatch) {
      pmatch[0].rm_so = (regoff_t)m.position(0);
      pmatch[0].rm_eo = (regoff_t)(m.position(0) + m.length(0));
      for (size_t i = 1; i < nmatch; i++)
        pmatch[i].rm_so = pmatch[i].rm_eo = -1;
    }
    return 0;
  } catch (...) {
    return REG_ESPACE;
  }
}

extern "C" size_t regerror(int errcode, const regex_t *, char *errbuf, size_t errbuf_size) {
  std::string text = errcode == REG_NOMATCH ? "no match"
                     : last_error.empty()   ? "invalid regular expression"
                                            : last_error;
  if (errbuf && errbuf_size)
    std::snprintf(errbuf, errbuf_size, "%s", text.c_str());
  return text.size() + 1;
}

extern "C" void regfree(regex_t *preg) {
  delete static_cast<std::regex *>(preg->impl);
  preg->impl = nullptr;
}
