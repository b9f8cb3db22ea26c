/*
 * scripts/qprobe-setup against a fake machine (a sysfs and proc tree and a
 * dpdk-devbind.py that records its calls and moves the driver link): a dry
 * run changes nothing and says what it would do; a run binds the NIC,
 * reserves hugepages and remembers both; --undo gives them back; an IOMMU
 * that is off, a missing device, a config that is not JSON each fail with
 * the command that fixes them. Then, as root on this machine, the real
 * hugepage path: pages reserved, and released by --undo. And the systemd
 * unit installed by `make install` passes systemd-analyze verify, hardened to an
 * exposure of 3.0 ("OK") at most by systemd-analyze security.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qp_run.h"

#define ADDR "0000:3b:00.0"

static char root[256];

static void mkdirs(const char *rel)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
	cr_assert_eq(system(cmd), 0);
}

static void put(const char *rel, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f, "%s", p);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *rel)
{
	static char buf[8192];
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	buf[0] = 0;
	FILE *f = fopen(p, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = 0;
		fclose(f);
	}
	return buf;
}

/* A machine with an ixgbe NIC, hugepages at 0, hugetlbfs unmounted. */
static void fake_machine(int iommu)
{
	snprintf(root, sizeof(root), "%s/machine", qp_tmpdir());
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
	mkdirs("sys/bus/pci/drivers/ixgbe");
	mkdirs("sys/bus/pci/drivers/vfio-pci");
	mkdirs("sys/bus/pci/devices/" ADDR);
	mkdirs("sys/kernel/mm/hugepages/hugepages-2048kB");
	mkdirs("proc");
	if (iommu)
		mkdirs("sys/kernel/iommu_groups/7");
	else
		mkdirs("sys/kernel/iommu_groups");
	put("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
	put("sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0\n");
	put("proc/mounts", "proc /proc proc rw 0 0\n");
	put("proc/cmdline", "quiet\n");
	snprintf(cmd, sizeof(cmd), "ln -s ../../drivers/ixgbe '%s/sys/bus/pci/devices/" ADDR "/driver'",
		 root);
	cr_assert_eq(system(cmd), 0);
	/* dpdk-devbind.py: records its arguments, moves the driver link */
	put("devbind", "#!/bin/sh\n"
		       "echo \"$@\" >> \"$(dirname \"$0\")/devbind.log\"\n"
		       "if [ \"$1\" = -b ]; then ln -sfn \"../../drivers/$2\" "
		       "\"$QP_SYSFS/bus/pci/devices/$3/driver\"; fi\n");
	put("mount", "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/mount.log\"\n");
	put("modprobe", "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/modprobe.log\"\n");
	snprintf(cmd, sizeof(cmd), "chmod +x '%s/devbind' '%s/mount' '%s/modprobe'", root, root, root);
	cr_assert_eq(system(cmd), 0);
	put("qprobe.json", "{\"dpdk\": {\"lcores\": \"0-1\", \"ports\": [\"" ADDR "\"], \"hugepages\": true,"
			   " \"memory_mb\": 64}}\n");
}

/* Run the script on the fake machine; stdout to out.txt, stderr in r->err. */
static void setup(struct qp_run_result *r, const char *a1, const char *a2)
{
	char env[4096];
	snprintf(env, sizeof(env),
		 "QP_SYSFS='%s/sys' QP_PROC='%s/proc' QP_STATE='%s/state' DPDK_DEVBIND='%s/devbind' "
		 "DPDK_HUGEPAGES='' QP_MOUNT='%s/mount' QP_MODPROBE='%s/modprobe' "
		 "scripts/qprobe-setup --config '%s/qprobe.json' %s %s > '%s/out.txt'",
		 root, root, root, root, root, root, root, a1 ? a1 : "", a2 ? a2 : "", root);
	char *argv[] = {"/bin/sh", "-c", env, NULL};
	qp_run(argv, NULL, 60, r);
}

Test(setup, dry_run_changes_nothing)
{
	fake_machine(1);
	struct qp_run_result r;
	setup(&r, "--dry-run", NULL);
	cr_assert(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
	char *out = get("out.txt");
	cr_expect(strstr(out, "would run: echo 32 > ") != NULL, "%s", out);
	cr_expect(strstr(out, "mount -t hugetlbfs nodev /dev/hugepages") != NULL, "%s", out);
	cr_expect(strstr(out, "/devbind -b vfio-pci " ADDR) != NULL, "%s", out);
	cr_expect(strstr(out, "hint: the polling lcores (0-1, all but the first) are not isolated") != NULL,
		  "%s", out);
	cr_expect(strstr(out, "qprobe-setup: ready") != NULL, "%s", out);
	cr_expect_str_eq(get("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "0\n");
	cr_expect_str_eq(get("devbind.log"), "", "devbind was not called");
	cr_expect_str_eq(get("state"), "", "nothing remembered");
}

Test(setup, binds_reserves_and_undoes)
{
	fake_machine(1);
	struct qp_run_result r;
	setup(&r, NULL, NULL);
	cr_assert(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
	cr_expect_str_eq(get("devbind.log"), "-b vfio-pci " ADDR "\n");
	cr_expect_str_eq(get("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "32\n");
	cr_expect_str_eq(get("mount.log"), "-t hugetlbfs nodev /dev/hugepages\n");
	char want[512];
	snprintf(want, sizeof(want), "hugepages %s/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 0\nbound " ADDR " ixgbe\n", root);
	cr_expect_str_eq(get("state"), want);
	/* a second run finds everything in place */
	put("proc/mounts", "nodev /dev/hugepages hugetlbfs rw 0 0\n");
	setup(&r, NULL, NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect(strstr(get("out.txt"), ADDR ": bound to vfio-pci: ok") != NULL, "%s", get("out.txt"));
	cr_expect_str_eq(get("devbind.log"), "-b vfio-pci " ADDR "\n", "not bound twice");
	/* undo: back to ixgbe, hugepages given back, nothing left to undo */
	setup(&r, "--undo", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(get("devbind.log"), "-b vfio-pci " ADDR "\n-b ixgbe " ADDR "\n");
	cr_expect_str_eq(get("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"), "0\n");
	cr_expect_str_eq(get("state"), "");
}

Test(setup, failures_name_their_fix)
{
	fake_machine(0);
	struct qp_run_result r;
	setup(&r, "--dry-run", NULL);
	cr_expect(r.exited && r.status == 2, "exit %d", r.status);
	cr_expect(strstr(r.err, "FAILED: the IOMMU is off: vfio-pci cannot take the NICs") != NULL, "%s",
		  r.err);
	cr_expect(strstr(r.err, "fix: add intel_iommu=on iommu=pt (AMD: amd_iommu=on) to the kernel "
				"command line") != NULL, "%s", r.err);
	fake_machine(1);
	put("qprobe.json", "{\"dpdk\": {\"lcores\": \"0-1\", \"ports\": [\"0000:99:00.0\"], "
			   "\"hugepages\": false}}");
	setup(&r, NULL, NULL);
	cr_expect_eq(r.status, 2);
	cr_expect(strstr(r.err, "FAILED: no PCI device 0000:99:00.0") != NULL, "%s", r.err);
	cr_expect(strstr(r.err, "fix: check $.dpdk.ports against: ") != NULL, "%s", r.err);
	/* 1 GB pages on a kernel without them */
	put("qprobe.json", "{\"dpdk\": {\"lcores\": \"0-1\", \"vdevs\": [\"net_null0\"], \"memory_mb\": 2048}}");
	setup(&r, "--pagesize", "1G");
	cr_expect_eq(r.status, 2);
	cr_expect(strstr(r.err, "FAILED: this kernel offers no 1G hugepages") != NULL, "%s", r.err);
	/* and with them: 2 pages of 1 GB */
	mkdirs("sys/kernel/mm/hugepages/hugepages-1048576kB");
	put("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
	setup(&r, "--pagesize", "1G");
	cr_expect_eq(r.status, 0, "%s", r.err);
	cr_expect_str_eq(get("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"), "2\n");
	put("qprobe.json", "{not json");
	setup(&r, NULL, NULL);
	cr_expect_eq(r.status, 1);
	cr_expect(strstr(r.err, "is not JSON: check it with qprobe --check-config") != NULL, "%s", r.err);
}

/* The real hugepage path on this machine (root only). */
Test(setup, real_hugepages_reserved_and_released)
{
	if (geteuid() != 0)
		cr_skip_test("not root: the real hugepage path needs root");
	const char *nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
	FILE *f = fopen(nr, "r");
	if (!f)
		cr_skip_test("no 2 MB hugepages on this kernel");
	long before = 0;
	cr_assert_eq(fscanf(f, "%ld", &before), 1);
	fclose(f);
	snprintf(root, sizeof(root), "%s/real", qp_tmpdir());
	mkdirs("proc");
	put("proc/mounts", "nodev /dev/hugepages hugetlbfs rw 0 0\n"); /* no real mount */
	put("proc/cmdline", "isolcpus=1\n");
	char cfg[600], env[4096];
	long want_mb = before * 2 + 16;
	snprintf(cfg, sizeof(cfg), "{\"dpdk\": {\"lcores\": \"0-1\", \"vdevs\": [\"net_null0\"], "
				   "\"hugepages\": true, \"memory_mb\": %ld}}", want_mb);
	put("qprobe.json", cfg);
	snprintf(env, sizeof(env),
		 "QP_PROC='%s/proc' QP_STATE='%s/state' scripts/qprobe-setup --config '%s/qprobe.json' "
		 "&& cat %s", root, root, root, nr);
	char *argv[] = {"/bin/sh", "-c", env, NULL};
	char out[512];
	snprintf(out, sizeof(out), "%s/out.txt", root);
	struct qp_run_result r;
	qp_run(argv, out, 60, &r);
	cr_assert(r.exited && r.status == 0, "exit %d: %s %s", r.status, r.err, get("out.txt"));
	f = fopen(nr, "r");
	long during = 0;
	cr_assert_eq(fscanf(f, "%ld", &during), 1);
	fclose(f);
	cr_expect_geq(during * 2, want_mb, "%ld pages reserved for %ld MB", during, want_mb);
	snprintf(env, sizeof(env), "QP_PROC='%s/proc' QP_STATE='%s/state' scripts/qprobe-setup --undo",
		 root, root);
	qp_run(argv, NULL, 60, &r);
	cr_assert(r.exited && r.status == 0, "%s", r.err);
	f = fopen(nr, "r");
	long after = -1;
	cr_assert_eq(fscanf(f, "%ld", &after), 1);
	fclose(f);
	cr_expect_eq(after, before, "given back: %ld pages, %ld before", after, before);
}

Test(setup, installed_unit_verifies)
{
	char dest[256], cmd[4096];
	snprintf(dest, sizeof(dest), "%s/inst", qp_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "make -s install DESTDIR='%s' BUILD='%s' >/dev/null && "
		 "sed -e 's|/usr/local|%s/usr/local|g' -e 's|/etc/qprobe|%s/etc/qprobe|g' "
		 "'%s/usr/local/lib/systemd/system/qprobe.service' > '%s/qprobe.service' && "
		 "systemd-analyze verify '%s/qprobe.service' && "
		 /* hardened: exposure 3.0 "OK" at most (9.6 "UNSAFE" before) */
		 "systemd-analyze security --offline=true --threshold=30 '%s/qprobe.service' >/dev/null && "
		 "'%s/usr/local/bin/qprobe' --check-config '%s/etc/qprobe/qprobe.json' && "
		 "'%s/usr/local/sbin/qprobe-setup' --help | grep -q -- '--undo'",
		 dest, qp_build(), dest, dest, dest, dest, dest, dest, dest, dest, dest);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	struct qp_run_result r;
	qp_run(argv, NULL, 300, &r);
	if (r.exited && r.status == 127)
		cr_skip_test("systemd-analyze is not installed");
	cr_expect(r.exited && r.status == 0, "exit %d: %s", r.status, r.err);
	/* and it does fail on a unit whose program is not there */
	snprintf(cmd, sizeof(cmd),
		 "sed -e 's|ExecStart=.*|ExecStart=/nonexistent/qprobe|' '%s/qprobe.service' > '%s/bad.service' "
		 "&& systemd-analyze verify '%s/bad.service'", dest, dest, dest);
	qp_run(argv, NULL, 60, &r);
	cr_expect(r.exited && r.status != 0, "a unit with a missing program must not verify");
}
