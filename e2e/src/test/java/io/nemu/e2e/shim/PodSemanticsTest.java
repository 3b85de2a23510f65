package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.NemuCommand;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a pod's containers see in the VM, through real containerd, our shim and a real VM with {@code ctr}:
 * two containers grouped into one sandbox by CRI's annotations (one VM), volumes, read-only root, user,
 * cwd, env, capabilities, memory limit, shared network/ipc/uts/pid and /dev/shm; and the VM's size from
 * the sandbox's annotations. Two VMs in all.
 */
@Tag("system")
class PodSemanticsTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    private static final Duration RUN = Duration.ofSeconds(180);
    private static final String TYPE = "io.kubernetes.cri.container-type";
    private static final String SANDBOX = "io.kubernetes.cri.sandbox-id";
    private static final String[] APPLETS = {"id", "pwd", "touch", "wget", "httpd", "grep", "cut", "readlink", "ps",
        "nproc", "mkdir", "seq", "test", "[", "sed", "wc", "tr", "stat", "head"};
    /** The volume {@code nemu direct-volume stats} is checked on: a host tmpfs, which nothing else writes. */
    private static final long VOLUME_BYTES = 16L << 20;
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();
    private Containerd containerd;
    private Path config;
    /** The host tmpfs mounted for the test, while it is mounted. */
    private Path tmpfs;

    @BeforeEach
    void setUp() throws IOException {
        GuestImages.assumeOfDistribution(dist, true);
        LEFTOVERS.dir(work);
        config = dist.writeConfig(work, "enable_annotations = [\"default_vcpus\", \"default_memory\"]",
                "dial_timeout = 90");
        containerd = LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(RUN).start());
    }

    @AfterEach
    void tearDown() throws Exception {
        if (containerd != null) {
            containerd.close();
        }
        unmountTmpfs();
    }

    private Path mountTmpfs(Path dir, long bytes) throws Exception {
        Files.createDirectories(dir);
        exec("mount", "-t", "tmpfs", "-o", "size=" + bytes + ",mode=0777", "nemu-e2e-volume", dir.toString());
        tmpfs = dir;
        return dir;
    }

    private void unmountTmpfs() throws Exception {
        if (tmpfs != null) {
            exec("umount", tmpfs.toString());
            tmpfs = null;
        }
    }

    private static void exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    private Path rootfs(String name) throws IOException {
        return Rootfs.busybox(work.resolve("rootfs-" + name), APPLETS);
    }

    private List<String> run(String... tail) {
        return Distribution.runArgs(config, tail);
    }

    private Containerd.CtrResult ctr(List<String> args) {
        return containerd.ctr(RUN, args);
    }

    private static Path worldWritable(Path p) throws IOException {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxrwxrwx" : "rw-rw-rw-"));
        return p;
    }

    @Test
    void twoContainersOfOnePodShareTheVmAndSeeTheirSpecs() throws Exception {
        LEFTOVERS.sandbox("poda");
        Path data = worldWritable(Files.createDirectories(work.resolve("data")));
        worldWritable(Files.writeString(data.resolve("hello.txt"), "from-host"));
        Path file = worldWritable(Files.writeString(work.resolve("extra.conf"), "one-file"));
        Path rw = worldWritable(Files.createDirectories(work.resolve("rw")));
        Path www = Files.createDirectories(work.resolve("www"));
        Path hosts = Files.writeString(work.resolve("hosts"), "127.0.0.1 localhost\n10.88.0.7 pod-a\n");
        Path shm = Files.createDirectories(work.resolve("host-shm"));
        String shmMount = "type=bind,src=" + shm + ",dst=/dev/shm,options=rbind:rw";
        Path volume = mountTmpfs(work.resolve("volume"), VOLUME_BYTES);

        // The sandbox container, from ctr's flags: writes what the second one checks, then serves on the
        // pod's loopback.
        Path a = rootfs("a");
        String aScript = "echo $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts) $(readlink /proc/self/ns/pid)"
                + " > /dev/shm/a-ns; cat /proc/sys/kernel/random/boot_id > /dev/shm/a-boot;"
                + " { echo \"cwd=$(pwd)\"; echo \"msg=$MSG\";"
                + " echo \"cgroup=$(cut -d: -f3 /proc/self/cgroup)\";"
                + " echo \"root=$(touch /rootfile 2>&1 && echo ok)\";"
                + " echo \"caps=$(grep CapEff /proc/self/status | cut -f2)\"; } > /dev/shm/a-facts;"
                + " echo \"$MSG\" > /www/index.html; touch /dev/shm/a-ready; exec httpd -f -p 127.0.0.1:8080 -h /www";
        long t0 = System.nanoTime();
        ctr(run("-d", "--annotation", TYPE + "=sandbox", "--annotation", SANDBOX + "=poda",
                "--read-only", "--cwd", "/www", "--env", "MSG=pod-ok", "--memory-limit", "134217728",
                "--cap-drop", "CAP_NET_RAW", "--cap-add", "CAP_SYS_ADMIN", "--mount", shmMount,
                "--mount", "type=bind,src=" + www + ",dst=/www,options=rbind:rw",
                "--mount", "type=bind,src=" + volume + ",dst=/volume,options=rbind:rw",
                "--rootfs", a.toString(), "poda", "/bin/sh", "-c", aScript)).requireOk();
        long sandboxUp = System.nanoTime();
        List<Long> qemu = Sandboxes.vmProcesses("poda");
        assertFalse(qemu.isEmpty(), "no QEMU for the pod");

        // The app container, from a spec shaped as containerd 1.6.20's CRI plugin writes it.
        Path b = rootfs("b");
        Path scratch = worldWritable(Files.createDirectories(b.resolve("scratch")));
        String bScript = String.join("\n",
                "i=0; while [ ! -e /dev/shm/a-ready ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
                "sed 's/^/a./' /dev/shm/a-facts",
                "echo \"user=$(id -u):$(id -g)\"",
                "echo \"groups=$(id -G)\"",
                "echo \"pwd=$(pwd)\"",
                "echo \"foo=$FOO\"",
                "echo \"data=$(cat /data/hello.txt)\"",
                "echo \"datawrite=$(touch /data/new 2>&1 && echo ok)\"",
                "echo \"dataappend=$( (echo x >> /data/hello.txt) 2>&1 && echo ok)\"",
                "echo \"extra=$(cat /etc/extra.conf)\"",
                "echo \"extrawrite=$( (echo x >> /etc/extra.conf) 2>&1 && echo ok)\"",
                "echo \"rw=$( (echo written > /rw/out) 2>&1 && echo ok)\"",
                "echo \"root=$(touch /scratch/f 2>&1 && echo ok)\"",
                "echo \"hosts=$(grep pod-a /etc/hosts)\"",
                "cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)",
                "echo \"cgroup=$(cut -d: -f3 /proc/self/cgroup)\"",
                "echo \"mem=$(cat $cg/memory.max 2>&1)\"",
                "echo \"cpu=$(cat $cg/cpu.max 2>&1)\"",
                "echo \"swap=$(cat $cg/memory.swap.max 2>&1)\"",
                "echo \"oom=$(cat /proc/self/oom_score_adj)\"",
                "echo \"seccomp=$(mkdir /rw/blocked 2>&1 && echo ok)\"",
                "echo \"masked=$(ls /sys/firmware | wc -l)\"",
                "echo \"sysctl=$(cat /proc/sys/net/ipv4/ping_group_range | tr '\\t' ' ')\"",
                "echo \"boot=$(cat /proc/sys/kernel/random/boot_id)\"",
                "h=; for i in $(seq 50); do h=$(wget -q -O - http://127.0.0.1:8080/ 2>&1) && break; sleep 0.2; done",
                "echo \"http=$h\"",
                "echo \"ns=$(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts) $(readlink /proc/self/ns/pid)\"",
                "echo \"ans=$(cat /dev/shm/a-ns)\"",
                "echo \"aboot=$(cat /dev/shm/a-boot)\"",
                "echo \"shm=$(grep ' /dev/shm ' /proc/mounts | cut -d' ' -f3)\"",
                "echo \"amem=$(cat /sys/fs/cgroup$(sed -n 's/^cgroup=//p' /dev/shm/a-facts)/memory.max 2>&1)\"",
                "echo \"httpd=$(cat /proc/[0-9]*/comm | grep -c '^httpd$')\"");
        String template;
        try (var in = getClass().getResourceAsStream("/cri/container-config.json")) {
            template = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        }
        Path spec = work.resolve("podb-config.json");
        Files.writeString(spec, template.replace("@SCRIPT@", json(bScript)).replace("@ROOTFS@", json(b.toString()))
                .replace("@DATA@", json(data.toString())).replace("@FILE@", json(file.toString()))
                .replace("@RW@", json(rw.toString())).replace("@HOSTS@", json(hosts.toString()))
                .replace("@SHM@", json(shm.toString())));
        Containerd.CtrResult r = ctr(List.of("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path", config.toString(),
                "--config", spec.toString(), "podb"));
        long bDone = System.nanoTime();
        System.out.println("pod: sandbox container up in " + (sandboxUp - t0) / 1_000_000 + " ms, second container ran in "
                + (bDone - sandboxUp) / 1_000_000 + " ms\n" + r.stdout());
        assertEquals(0, r.exitCode(), r.stderr() + r.stdout());
        Map<String, String> o = lines(r.stdout());
        assertEquals(qemu, Sandboxes.vmProcesses("poda"), "the second container booted no VM of its own");
        assertTrue(Sandboxes.vmProcesses("podb").isEmpty(), "podb has a VM of its own");

        // ctr's flags on the sandbox container
        assertEquals("/www", o.get("a.cwd"));
        assertEquals("pod-ok", o.get("a.msg"));
        assertEquals("/default/poda", o.get("a.cgroup"));
        assertEquals("134217728", o.get("amem"), "the sandbox container's limit, read from the app container");
        assertTrue(o.get("a.root").contains("Read-only file system"), o.get("a.root"));
        // containerd's default set, less NET_RAW (bit 13), plus SYS_ADMIN (bit 21).
        assertEquals(0xa80425fbL & ~(1L << 13) | (1L << 21), Long.parseLong(o.get("a.caps"), 16), "caps " + o.get("a.caps"));

        // the CRI-shaped spec of the app container
        assertEquals("1000:1000", o.get("user"));
        assertEquals("1000 3000 4000", o.get("groups"));
        assertEquals("/data", o.get("pwd"));
        assertEquals("bar", o.get("foo"));
        assertEquals("from-host", o.get("data"));
        assertTrue(o.get("datawrite").contains("Read-only file system"), o.get("datawrite"));
        assertTrue(o.get("dataappend").contains("Read-only file system"), o.get("dataappend"));
        assertEquals("from-host", Files.readString(data.resolve("hello.txt")));
        assertFalse(Files.exists(data.resolve("new")));
        assertEquals("one-file", o.get("extra"));
        assertTrue(o.get("extrawrite").contains("Read-only file system"), o.get("extrawrite"));
        assertEquals("one-file", Files.readString(file));
        assertEquals("ok", o.get("rw"));
        assertEquals("written\n", Files.readString(rw.resolve("out")));
        assertEquals(1000, (Integer) Files.getAttribute(rw.resolve("out"), "unix:uid"), "the guest's uid on the host");
        assertTrue(o.get("root").contains("Read-only file system"), o.get("root"));
        assertFalse(Files.exists(scratch.resolve("f")));
        assertEquals("10.88.0.7 pod-a", o.get("hosts"));
        assertEquals("/kubepods/burstable/pod2c9a6b1e-0000-4000-8000-000000000001/podb", o.get("cgroup"));
        assertEquals("67108864", o.get("mem"));
        assertEquals("50000 100000", o.get("cpu"));
        assertEquals("0", o.get("swap"), "the kubelet's swap = limit (no swap) in cgroup v2 terms");
        assertEquals("1000", o.get("oom"));
        assertTrue(o.get("seccomp").contains("Operation not permitted"), o.get("seccomp"));
        assertFalse(Files.exists(rw.resolve("blocked")));
        assertEquals("0", o.get("masked"));
        assertEquals("0 2147483647", o.get("sysctl"), "the pod's net.* sysctl, written to the guest by the agent");

        // one pod: one kernel, loopback, ipc/uts/pid namespaces and /dev/shm
        String hostBoot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        assertEquals(o.get("aboot"), o.get("boot"), "both containers run in one kernel");
        assertNotEquals(hostBoot, o.get("boot"));
        assertEquals("pod-ok", o.get("http"), "the pod's loopback is shared");
        assertEquals(o.get("ans"), o.get("ns"), "ipc, uts and pid namespaces joined");
        assertEquals("1", o.get("httpd"), "the sandbox's httpd is in the shared pid namespace");
        assertEquals("tmpfs", o.get("shm"));
        try (var list = Files.list(shm)) {
            assertEquals(List.of(), list.toList(), "the pod's /dev/shm is the guest's tmpfs, not the host folder");
        }

        volumeStatsOfTheRunningPod(volume);

        containerd.killTask("poda", RUN);
        ctr(List.of("task", "rm", "poda")).requireOk();
        ctr(List.of("c", "rm", "poda")).requireOk();
        Leftovers.await(() -> Sandboxes.vmProcesses("poda").isEmpty());
        unmountTmpfs();
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(work.toString()), "mounts of the pod left");
    }

    /**
     * {@code nemu direct-volume stats} of the sandbox container's volume (a host tmpfs shared over virtio-fs) says
     * what the container itself sees with statfs, and grows by what the container writes; a path no container
     * mounts is named in the error.
     */
    private void volumeStatsOfTheRunningPod(Path volume) throws Exception {
        Duration t = Duration.ofSeconds(60);
        JsonNode before = volumeStats(volume);
        String[] guest = ctr(List.of("task", "exec", "--exec-id", "statfs", "poda", "/bin/stat", "-f", "-c", "%b %f %S %c %d",
                "/volume")).requireOk().stdout().strip().split(" ");
        long blockSize = Long.parseLong(guest[2]);
        assertEquals(Long.parseLong(guest[0]) * blockSize, usage(before, 1, "total"), "bytes total: " + before);
        assertEquals(Long.parseLong(guest[1]) * blockSize, usage(before, 1, "available"), "bytes free: " + before);
        assertEquals(Long.parseLong(guest[3]), usage(before, 2, "total"), "inodes total: " + before);
        assertEquals(Long.parseLong(guest[4]), usage(before, 2, "available"), "inodes free: " + before);
        assertEquals(VOLUME_BYTES, usage(before, 1, "total"), "the host tmpfs's size");
        assertEquals(usage(before, 1, "total") - usage(before, 1, "available"), usage(before, 1, "used"));
        assertEquals("OK", before.at("/volume_condition/message").asText());

        ctr(List.of("task", "exec", "--exec-id", "write", "poda", "/bin/sh", "-c", "/bin/head -c 4194304 /dev/zero > /volume/blob"))
                .requireOk();
        assertEquals(4L << 20, Files.size(volume.resolve("blob")));
        JsonNode after = volumeStats(volume);
        assertEquals(usage(before, 1, "used") + (4L << 20), usage(after, 1, "used"), "a 4 MiB file: " + after);
        assertEquals(usage(before, 2, "used") + 1, usage(after, 2, "used"), "one more inode: " + after);

        NemuCommand.Result none = NemuCommand.run(dist, t, "direct-volume", "stats", work.toString());
        System.out.println("nemu direct-volume stats " + work + ": exit " + none.exitCode() + ": " + none.stderr().strip());
        assertEquals(1, none.exitCode(), none.stdout());
        assertTrue(none.stderr().contains("no running sandbox on this host holds volume " + work), none.stderr());
    }

    private JsonNode volumeStats(Path volume) throws Exception {
        long t0 = System.nanoTime();
        NemuCommand.Result r = NemuCommand.run(dist, Duration.ofSeconds(60), "direct-volume", "stats", volume.toString())
                .requireOk();
        System.out.println("nemu direct-volume stats " + volume + " (" + (System.nanoTime() - t0) / 1_000_000 + " ms): "
                + r.stdout().strip());
        return new ObjectMapper().readTree(r.stdout());
    }

    /** A figure of Kata's answer: {@code unit} 1 bytes, 2 inodes. */
    private static long usage(JsonNode stats, int unit, String field) {
        for (JsonNode u : stats.path("usage")) {
            if (u.path("unit").asInt() == unit) {
                return u.path(field).asLong();
            }
        }
        throw new AssertionError("no usage of unit " + unit + " in " + stats);
    }

    /** A JSON string literal (Jackson's escaping, as the shim reads it back). */
    private static String json(String s) throws IOException {
        return io.nemu.shim.oci.Bundle.json().writeValueAsString(s);
    }

    @Test
    void sandboxSizeFromAnnotations() throws Exception {
        LEFTOVERS.sandbox("sized");
        LEFTOVERS.sandbox("badsize");
        // Base: Kata's default_memory annotation (300 MiB); on top: the pod's 1 CPU and 512 MiB from CRI.
        Containerd.CtrResult r = ctr(run("--rm", "--annotation", "io.katacontainers.config.hypervisor.default_memory=300",
                "--annotation", "io.kubernetes.cri.sandbox-memory=536870912",
                "--annotation", "io.kubernetes.cri.sandbox-cpu-quota=100000",
                "--annotation", "io.kubernetes.cri.sandbox-cpu-period=100000",
                "--rootfs", rootfs("s").toString(), "sized", "/bin/sh", "-c", "nproc; grep MemTotal /proc/meminfo"));
        assertEquals(0, r.exitCode(), r.stderr());
        String[] out = r.stdout().strip().split("\\s+");
        System.out.println("sized sandbox: nproc " + out[0] + ", " + out[1] + " " + out[2] + " kB");
        assertEquals("2", out[0]);
        long memKb = Long.parseLong(out[2]);
        // The kernel keeps ~60 MiB of it: well above what the 512 MiB default or the 300 MiB base alone gives.
        assertTrue(memKb > 700 * 1024 && memKb <= 812 * 1024, "MemTotal " + memKb + " kB for an 812 MiB VM");

        long t0 = System.nanoTime();
        Containerd.CtrResult bad = ctr(run("--rm", "--annotation", "io.katacontainers.config.hypervisor.default_vcpus=two",
                "--rootfs", rootfs("bad").toString(), "badsize", "/bin/true"));
        System.out.println("bad annotation refused in " + (System.nanoTime() - t0) / 1_000_000 + " ms: " + bad.stderr().strip());
        assertNotEquals(0, bad.exitCode());
        assertTrue(bad.stderr().contains("io.katacontainers.config.hypervisor.default_vcpus must be an integer, got 'two'"),
                bad.stderr());
        assertTrue(Sandboxes.vmProcesses("badsize").isEmpty());
    }

    private static Map<String, String> lines(String out) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String l : out.split("\n")) {
            int eq = l.indexOf('=');
            if (eq > 0) {
                m.put(l.substring(0, eq), l.substring(eq + 1).strip());
            }
        }
        return m;
    }
}
