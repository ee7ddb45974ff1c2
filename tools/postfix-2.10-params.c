#include <sys_defs.h>
#include <stdio.h>
#include <mail_params.h>
#include <mail_conf.h>
#include <mail_version.h>
#include <mail_addr.h>
#include <paths.h>
#include <server_acl.h>
#include <mail_proto.h>
#include "time_vars.h"
#include "bool_vars.h"
#include "int_vars.h"
#include "str_vars.h"
#include "install_vars.h"
#include "raw_vars.h"
#include "nint_vars.h"
#include "nbool_vars.h"
#include "long_vars.h"
static const CONFIG_TIME_TABLE time_table[] = {
#include "time_table.h"
    0,
};
static const CONFIG_BOOL_TABLE bool_table[] = {
#include "bool_table.h"
    0,
};
static const CONFIG_INT_TABLE int_table[] = {
#include "int_table.h"
    0,
};
static const CONFIG_STR_TABLE str_table[] = {
#include "str_table.h"
#include "install_table.h"
    0,
};
static const CONFIG_RAW_TABLE raw_table[] = {
#include "raw_table.h"
    0,
};
static const CONFIG_NINT_TABLE nint_table[] = {
#include "nint_table.h"
    0,
};
static const CONFIG_NBOOL_TABLE nbool_table[] = {
#include "nbool_table.h"
    0,
};
static const CONFIG_LONG_TABLE long_table[] = {
#include "long_table.h"
    0,
};
int main(void) {
    const CONFIG_TIME_TABLE *t; const CONFIG_BOOL_TABLE *b; const CONFIG_INT_TABLE *i;
    const CONFIG_STR_TABLE *s; const CONFIG_RAW_TABLE *r; const CONFIG_NINT_TABLE *ni;
    const CONFIG_NBOOL_TABLE *nb; const CONFIG_LONG_TABLE *l;
    for (t = time_table; t->name; t++) printf("time\t%s\t%s\n", t->name, t->defval);
    for (b = bool_table; b->name; b++) printf("bool\t%s\t%s\n", b->name, b->defval ? "yes" : "no");
    for (i = int_table; i->name; i++) printf("int\t%s\t%d\n", i->name, i->defval);
    for (s = str_table; s->name; s++) printf("str\t%s\t%s\n", s->name, s->defval);
    for (r = raw_table; r->name; r++) printf("raw\t%s\t%s\n", r->name, r->defval);
    for (ni = nint_table; ni->name; ni++) printf("nint\t%s\t%s\n", ni->name, ni->defval);
    for (nb = nbool_table; nb->name; nb++) printf("nbool\t%s\t%s\n", nb->name, nb->defval);
    for (l = long_table; l->name; l++) printf("long\t%s\t%ld\n", l->name, l->defval);
    return 0;
}
