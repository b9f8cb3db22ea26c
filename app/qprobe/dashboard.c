/*
 * The dashboard page the HTTP endpoint serves at GET / (app/qprobe/www/
 * dashboard.html), built into the program: a probe needs no file beside it
 * and no internet for its page. Read-only data, any thread.
 */
#include "live.h"

/* the page's bytes, assembled in from the file (make runs from the
 * repository's root, where the path is taken from) */
__asm__(".section .rodata\n"
	".global qp_dashboard_html\n"
	".type qp_dashboard_html, @object\n"
	"qp_dashboard_html:\n"
	".incbin \"app/qprobe/www/dashboard.html\"\n"
	".global qp_dashboard_html_end\n"
	"qp_dashboard_html_end:\n"
	".byte 0\n"
	".previous\n");

extern const char qp_dashboard_html[], qp_dashboard_html_end[];

const char *views_dashboard(size_t *len)
{
	*len = (size_t)(qp_dashboard_html_end - qp_dashboard_html);
	return qp_dashboard_html;
}
