package io.nemu.agent;

import io.grpc.BindableService;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.nemu.agent.sys.Mounts;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.Box;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.Linux;
import io.nemu.proto.kata.LinuxCapabilities;
import io.nemu.proto.kata.LinuxNamespace;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.POSIXRlimit;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.User;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * An agent served in-process with every path in a private temporary directory, and the means
 * to build busybox containers for it and to clean up after it whatever happened.
 */
public final class TestHost implements AutoCloseable {

    final Path base;
    final AgentConfig cfg;
    final String cgroupParent;
    final String crun;
    private final Server server;
    final ManagedChannel channel;

    TestHost(List<String> ipCommand) throws IOException {
        // Short, so that console socket paths stay under the unix limit.
        base = Files.createTempDirectory(Path.of("/tmp"), "nat");
        cgroupParent = "/nemu-test-" + UUID.randomUUID().toString().substring(0, 8);
        crun = crunWrapper(base);
        cfg = new AgentConfig(base.resolve("state"), base.resolve("shared"), crun, Path.of("/sys/fs/cgroup"),
                cgroupParent, ipCommand, base.resolve("etc/resolv.conf"), Path.of("/sys"), base.resolve("copy"), false);
        Files.createDirectories(cfg.sharedDir());
        String name = "agent-" + UUID.randomUUID();
        List<BindableService> services = List.of(new AgentService(cfg), new HealthService());
        InProcessServerBuilder b = InProcessServerBuilder.forName(name);
        services.forEach(b::addService);
        server = b.build().start();
        channel = InProcessChannelBuilder.forName(name).build();
    }

    /**
     * crun refuses this host's hybrid cgroup tree (hugetlb sits on the v2 mount), which a guest
     * never has: run it in a private mount namespace without the v2 mount.
     */
    private static String crunWrapper(Path dir) throws IOException {
        Path w = dir.resolve("crun");
        if (Files.exists(Path.of("/sys/fs/cgroup/unified/cgroup.controllers"))
                && !Files.readString(Path.of("/sys/fs/cgroup/unified/cgroup.controllers")).isBlank()) {
            Files.writeString(w, "#!/bin/sh\nexec unshare --mount --propagation private sh -c "
                    + "'umount -l /sys/fs/cgroup/unified && exec crun \"$@\"' crun \"$@\"\n");
            w.toFile().setExecutable(true);
            return w.toString();
        }
        return "crun";
    }

    AgentServiceGrpc.AgentServiceBlockingStub agent() {
        return AgentServiceGrpc.newBlockingStub(channel).withDeadlineAfter(90, TimeUnit.SECONDS);
    }

    HealthGrpc.HealthBlockingStub health() {
        return HealthGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    /** A busybox rootfs at the place the shim would share it: shared/CID/rootfs. */
    Path rootfs(String cid) throws IOException {
        Path root = cfg.sharedDir().resolve(cid).resolve("rootfs");
        for (String d : List.of("bin", "proc", "sys", "dev", "tmp", "etc", "root")) {
            Files.createDirectories(root.resolve(d));
        }
        Files.copy(Path.of("/bin/busybox"), root.resolve("bin/busybox"));
        root.resolve("bin/busybox").toFile().setExecutable(true, false);
        Spawner.Result list = Spawner.get().run(List.of("/bin/busybox", "--list"), 30);
        for (String applet : list.stdout().split("\n")) {
            if (!applet.isBlank() && !applet.equals("busybox")) {
                Files.createSymbolicLink(root.resolve("bin").resolve(applet.trim()), Path.of("busybox"));
            }
        }
        Files.writeString(root.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        return root;
    }

    public static Process.Builder process(boolean terminal, String... args) {
        return Process.newBuilder()
                .addAllArgs(List.of(args))
                .addEnv("PATH=/bin")
                .addEnv("TERM=xterm")
                .setCwd("/")
                .setTerminal(terminal)
                .setConsoleSize(terminal ? Box.newBuilder().setHeight(24).setWidth(80).build() : Box.getDefaultInstance())
                .setUser(User.newBuilder().setUID(0).setGID(0))
                .setNoNewPrivileges(true)
                .addRlimits(POSIXRlimit.newBuilder().setType("RLIMIT_NOFILE").setHard(1024).setSoft(1024))
                .setCapabilities(LinuxCapabilities.newBuilder()
                        .addAllBounding(CAPS).addAllEffective(CAPS).addAllPermitted(CAPS));
    }

    private static final List<String> CAPS = List.of("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
            "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_FOWNER");

    /** A spec as containerd would send it (network namespace and host cgroups path included). */
    Spec spec(String cid, Process.Builder process, LinuxResources resources) {
        Linux.Builder linux = Linux.newBuilder()
                .setCgroupsPath(cgroupParent + "/" + cid)
                .addMaskedPaths("/proc/kcore").addReadonlyPaths("/proc/sys");
        for (String ns : List.of("pid", "ipc", "uts", "mount", "network")) {
            linux.addNamespaces(LinuxNamespace.newBuilder().setType(ns)
                    .setPath(ns.equals("network") ? "/var/run/netns/cni-host-only" : ""));
        }
        if (resources != null) {
            linux.setResources(resources);
        }
        return Spec.newBuilder()
                .setVersion("1.0.2")
                .setProcess(process)
                .setHostname(cid.substring(0, Math.min(12, cid.length())))
                .addMounts(mount("/proc", "proc", "proc", List.of("nosuid", "noexec", "nodev")))
                .addMounts(mount("/dev", "tmpfs", "tmpfs", List.of("nosuid", "strictatime", "mode=755", "size=65536k")))
                .addMounts(mount("/dev/pts", "devpts", "devpts",
                        List.of("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")))
                .addMounts(mount("/dev/shm", "shm", "tmpfs", List.of("nosuid", "noexec", "nodev", "mode=1777")))
                .addMounts(mount("/sys", "sysfs", "sysfs", List.of("nosuid", "noexec", "nodev", "ro")))
                .setLinux(linux)
                .build();
    }

    private static Mount mount(String dest, String source, String type, List<String> options) {
        return Mount.newBuilder().setDestination(dest).setSource(source).setType(type).addAllOptions(options).build();
    }

    /** Mount points at or below the test directory. */
    List<String> mountsBelowBase() {
        List<String> out = new ArrayList<>();
        for (String m : Mounts.mountPoints()) {
            if (m.startsWith(base.toString())) {
                out.add(m);
            }
        }
        return out;
    }

    /** Cgroup directories of this test's parent, over all hierarchies. */
    List<Path> cgroupDirs() {
        List<Path> out = new ArrayList<>();
        try (var s = Files.list(Path.of("/sys/fs/cgroup"))) {
            s.forEach(h -> {
                Path d = h.resolve(cgroupParent.substring(1));
                if (Files.isDirectory(d)) {
                    out.add(d);
                }
            });
        } catch (IOException ignored) {
            // no cgroups at all
        }
        return out;
    }

    /** Containers crun still knows in our state root. */
    List<String> crunContainers() {
        List<String> out = new ArrayList<>();
        Path root = cfg.crunRoot();
        if (Files.isDirectory(root)) {
            try (var s = Files.list(root)) {
                s.filter(Files::isDirectory).forEach(p -> out.add(p.getFileName().toString()));
            } catch (IOException ignored) {
                // unreadable: report none
            }
        }
        return out;
    }

    /** Children of this JVM that exited and were never reaped. */
    static List<String> zombies() {
        long me = ProcessHandle.current().pid();
        List<String> out = new ArrayList<>();
        try (var s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (!p.getFileName().toString().matches("[0-9]+")) {
                    continue;
                }
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    if (f[0].equals("Z") && Long.parseLong(f[1]) == me) {
                        out.add(p.getFileName() + " " + stat.substring(0, stat.lastIndexOf(')') + 1));
                    }
                } catch (IOException | RuntimeException ignored) {
                    // raced with its exit
                }
            }
        } catch (IOException ignored) {
            // no /proc
        }
        return out;
    }

    @Override
    public void close() throws Exception {
        channel.shutdownNow();
        server.shutdownNow();
        for (String id : crunContainers()) {
            Spawner.get().run(List.of(crun, "--root", cfg.crunRoot().toString(), "delete", "--force", id), 30);
        }
        List<String> mounts = mountsBelowBase();
        mounts.sort((a, b) -> b.length() - a.length());
        for (String m : mounts) {
            Mounts.unmount(Path.of(m));
        }
        for (Path d : cgroupDirs()) {
            try (var s = Files.walk(d)) {
                s.sorted((a, b) -> b.toString().length() - a.toString().length()).forEach(p -> p.toFile().delete());
            }
        }
        if (mountsBelowBase().isEmpty()) {
            io.nemu.agent.sys.Mounts.deleteTree(base);
        }
    }
}
