/* tools/world_chat.h: the World chat format's message cleaning, shared by
   rwkvx-chat and rwkvx-server so that both feed a message the same way.

   Turns are "User: ...\n\nAssistant: ...\n\n" (an optional "System: ...\n\n"
   first); a message is cleaned as the reference chat demo does: "\r\n"
   becomes "\n", runs of newlines become one, surrounding white space is
   stripped. */
#ifndef RWKVX_WORLD_CHAT_H
#define RWKVX_WORLD_CHAT_H

#include <string.h>

/* Cleans s[0..n) in place, NUL-terminates it and returns its new length. */
static size_t world_chat_clean(char *s, size_t n) {
    size_t i, k = 0, a = 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
        if (s[i] == '\n' && k > 0 && s[k - 1] == '\n') continue;
        s[k++] = s[i];
    }
    while (k > 0 && strchr(" \t\n\r\v\f", s[k - 1])) k--;
    while (a < k && strchr(" \t\n\r\v\f", s[a])) a++;
    memmove(s, s + a, k - a);
    s[k - a] = 0;
    return k - a;
}

#endif
