package io.nemu.shim.cli.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The checks against a fake host tree (/proc, /sys, /dev) and fake QEMU, virtiofsd and containerd scripts. */
class HostChecksTest {
    @TempDir
    Path dir;
    private Path root;
    private Path bin;

    private Path script(String name, String body) throws Exception {
        Path p = bin.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwx------"));
        return p;
    }

    private Path file(String abs, String text) throws Exception {
        Path p = root.resolve(abs.substring(1));
        Files.createDirectories(p.getParent());
        return Files.writeString(p, text);
    }

    @BeforeEach
    void host() throws Exception {
        root = dir.resolve("root");
        bin = Files.createDirectories(dir.resolve("bin"));
        file("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme hypervisor lm\n");
        file("/proc/meminfo", "MemTotal:       24000000 kB\nMemAvailable:    2000000 kB\n");
        file("/sys/fs/cgroup/cgroup.controllers", "cpu memory pids");
        file("/sys/kernel/mm/ksm/run", "0\n");
        script("qemu", "case \"$1\" in --version) echo 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)';;"
                + " -machine) printf 'Supported machines are:\\nmicrovm              microvm (i386)\\nq35                  Standard PC\\n';;"
                + " -sandbox) echo 'QEMU emulator version 7.2.22';; esac");
        script("virtiofsd", "echo 'virtiofsd version 7.2.22'");
        script("containerd", "echo 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1'");
        Path image = Files.createDirectories(dir.resolve("guest"));
        Files.writeString(image.resolve("vmlinux"), "kernel");
        Files.writeString(image.resolve("initramfs.img"), "initrd");
    }

    private String config(String extra) {
        return "[hypervisor.qemu]\npath = \"" + bin.resolve("qemu") + "\"\nvirtio_fs_daemon = \"" + bin.resolve("virtiofsd")
                + "\"\nkernel = \"" + dir.resolve("guest/vmlinux") + "\"\ninitrd = \"" + dir.resolve("guest/initramfs.img")
                + "\"\n" + extra;
    }

    private List<CheckResult> run(String toml) throws Exception {
        Path f = Files.writeString(dir.resolve("configuration.toml"), toml);
        RuntimeConfig c = null;
        String error = null;
        try {
            c = new ConfigLoader(w -> { }).load(f);
        } catch (ConfigException e) {
            error = e.getMessage();
        }
        return HostChecks.run(new CheckContext(new HostRoot(root), f, c, error, dir.resolve("containerd.toml"), List.of(bin)));
    }

    private static CheckResult line(List<CheckResult> rs, String name) {
        Optional<CheckResult> r = rs.stream().filter(x -> x.name().equals(name)).findFirst();
        return r.orElseThrow(() -> new AssertionError("no line " + name + " in " + rs));
    }

    @Test
    void aWorkingTcgHostPassesWithItsCostStated() throws Exception {
        file("/dev/net/tun", "");
        List<CheckResult> rs = run(config("accelerator = \"tcg\"\n"));
        rs.forEach(System.out::println);
        assertTrue(rs.stream().noneMatch(r -> r.status() == Status.FAIL), rs.toString());
        assertEquals(Status.WARN, line(rs, "cpu virtualization").status());
        assertTrue(line(rs, "cpu virtualization").detail().contains("a VM without nested virtualization"));
        assertTrue(line(rs, "accelerator").detail().startsWith("TCG") && line(rs, "accelerator").detail().contains("~10 s"));
        assertTrue(line(rs, "vsock").detail().startsWith("built-in vsock backend"), line(rs, "vsock").detail());
        assertEquals(Status.PASS, line(rs, "qemu").status());
        assertTrue(line(rs, "qemu").detail().contains("7.2.22, machines microvm, q35"), line(rs, "qemu").detail());
        assertEquals(Status.PASS, line(rs, "seccomp").status());
        assertTrue(line(rs, "virtiofsd").detail().endsWith("virtiofsd version 7.2.22"));
        assertEquals(Status.WARN, line(rs, "guest image").status(), "no manifest beside the files");
        assertTrue(line(rs, "containerd").detail().contains("1.6.20"));
        assertEquals(Status.WARN, line(rs, "containerd config").status());
        assertTrue(line(rs, "cgroup").detail().startsWith("v2"));
        assertTrue(line(rs, "memory").detail().startsWith("1953 MiB available, one default sandbox takes ~640 MiB"));
    }

    @Test
    void brokenConfigMissingQemuAndMissingImageAreNamed() throws Exception {
        List<CheckResult> broken = run(config("default_vcpus = 0\n"));
        assertEquals(Status.FAIL, line(broken, "configuration").status());
        assertTrue(line(broken, "configuration").detail().endsWith("hypervisor.qemu.default_vcpus must be 1..255, got 0"),
                line(broken, "configuration").detail());

        List<CheckResult> noQemu = run(config("").replace(bin.resolve("qemu").toString(), "/nonexistent/qemu"));
        assertEquals("hypervisor.qemu.path = /nonexistent/qemu does not exist: install QEMU (apt-get install"
                + " qemu-system-x86) or name its binary here", line(noQemu, "qemu").detail().split(": ", 2)[1]);
        assertEquals(Status.FAIL, line(noQemu, "qemu").status());

        Files.delete(dir.resolve("guest/vmlinux"));
        List<CheckResult> noImage = run(config("accelerator = \"tcg\"\n"));
        assertEquals(Status.FAIL, line(noImage, "guest image").status());
        assertTrue(line(noImage, "guest image").detail().endsWith("hypervisor.qemu.kernel = " + dir.resolve("guest/vmlinux")
                + " does not exist: there is no guest image in " + dir.resolve("guest") + " (build it with `nemu image build`)"),
                line(noImage, "guest image").detail());
    }

    @Test
    void containerdConfigNamingOurRuntimeAndKernelFeatures() throws Exception {
        Files.writeString(dir.resolve("containerd.toml"), "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd"
                + ".runtimes.vm]\n  runtime_type = \"io.containerd.nemu.v2\"\n");
        assertEquals(Status.FAIL, line(run(config("accelerator = \"tcg\"\n")), "module tun").status());
        file("/dev/net/tun", "");
        file("/dev/vhost-vsock", "");
        file("/proc/cpuinfo", "flags\t\t: fpu vmx lm\n");
        file("/sys/kernel/mm/ksm/run", "1\n");
        List<CheckResult> rs = run(config("accelerator = \"tcg\"\n"));
        assertEquals(Status.PASS, line(rs, "containerd config").status());
        assertTrue(line(rs, "containerd config").detail().endsWith("CRI handler vm"), line(rs, "containerd config").detail());
        assertEquals(Status.PASS, line(rs, "module tun").status());
        assertTrue(line(rs, "vsock").detail().startsWith("kernel vhost-vsock"));
        assertEquals("vmx (Intel VT-x)", line(rs, "cpu virtualization").detail());
        assertTrue(line(rs, "ksm").detail().startsWith("on"));
        file("/proc/meminfo", "MemAvailable:    300000 kB\n");
        assertEquals(Status.FAIL, line(run(config("")), "memory").status());
    }
}
