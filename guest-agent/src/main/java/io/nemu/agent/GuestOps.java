package io.nemu.agent;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import io.nemu.agent.sys.Libc;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.AgentDetails;
import io.nemu.proto.kata.CopyFileRequest;
import io.nemu.proto.kata.GuestDetailsRequest;
import io.nemu.proto.kata.GuestDetailsResponse;
import io.nemu.proto.kata.KernelModule;
import io.nemu.proto.kata.OnlineCPUMemRequest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Guest-wide calls: hostname, DNS, clock, CPU/memory onlining, details, file copies. */
final class GuestOps {

    private static final Logger LOG = LoggerFactory.getLogger(GuestOps.class);

    private GuestOps() {}

    /** modprobe with the module's parameters (CreateSandbox.kernel_modules). */
    static void loadModule(KernelModule m) {
        if (m.getName().isEmpty()) {
            throw AgentException.invalid("kernel_modules: a module has no name");
        }
        List<String> cmd = new ArrayList<>(List.of("modprobe", m.getName()));
        cmd.addAll(m.getParametersList());
        try {
            Spawner.Result r = Spawner.get().run(cmd, 30);
            if (!r.ok()) {
                throw AgentException.internal("modprobe " + m.getName() + ": " + r.stderr().trim(), null);
            }
        } catch (IOException e) {
            throw AgentException.internal("modprobe " + m.getName() + ": " + e.getMessage(), e);
        }
    }

    static void setHostname(AgentConfig cfg, String name) {
        if (name.length() > 64) {
            throw AgentException.invalid("hostname '" + name + "' is longer than 64 characters");
        }
        if (!cfg.setHostname()) {
            LOG.info("hostname {} not set (disabled in this configuration)", name);
            return;
        }
        byte[] b = name.getBytes(StandardCharsets.UTF_8);
        try {
            Libc.C.sethostname(name, b.length);
        } catch (LastErrorException e) {
            throw AgentException.internal("sethostname: " + Libc.C.strerror(e.getErrorCode()), e);
        }
    }

    /** Where sysctls are written: the guest's /proc/sys, or a folder of the state dir on a test host. */
    static Path procSys(AgentConfig cfg) {
        return cfg.setHostname() ? Path.of("/proc/sys") : cfg.stateDir().resolve("proc-sys");
    }

    /** Writes sysctls (checked dotted names) to the guest, e.g. the pod's net.* ones. */
    static void writeSysctls(AgentConfig cfg, java.util.Map<String, String> sysctls) {
        for (var e : sysctls.entrySet()) {
            Path p = procSys(cfg).resolve(e.getKey().replace('.', '/'));
            try {
                if (!cfg.setHostname()) {
                    Files.createDirectories(p.getParent());
                }
                Files.writeString(p, e.getValue());
            } catch (IOException ex) {
                throw AgentException.invalid("sysctl " + e.getKey() + "=" + e.getValue() + ": " + ex.getMessage());
            }
        }
    }

    /** Each entry is a resolv.conf line; a bare address becomes a nameserver line. */
    static void writeDns(AgentConfig cfg, List<String> dns) {
        StringBuilder b = new StringBuilder();
        for (String d : dns) {
            String line = d.trim();
            if (line.contains("\n")) {
                throw AgentException.invalid("dns entry '" + d + "' spans lines");
            }
            if (line.matches("[0-9a-fA-F:.]+")) {
                line = "nameserver " + line;
            }
            b.append(line).append('\n');
        }
        try {
            Files.createDirectories(cfg.resolvConf().getParent());
            Files.writeString(cfg.resolvConf(), b.toString());
        } catch (IOException e) {
            throw AgentException.internal("write " + cfg.resolvConf() + ": " + e.getMessage(), e);
        }
    }

    static void setTime(long sec, long usec) {
        if (sec < 0 || usec < 0 || usec >= 1_000_000) {
            throw AgentException.invalid("time " + sec + " s " + usec + " us is out of range");
        }
        Memory tv = new Memory(16);
        tv.setLong(0, sec);
        tv.setLong(8, usec);
        try {
            Libc.C.settimeofday(tv, null);
        } catch (LastErrorException e) {
            throw AgentException.internal("settimeofday: " + Libc.C.strerror(e.getErrorCode()), e);
        }
    }

    static GuestDetailsResponse details(AgentConfig cfg, GuestDetailsRequest req) {
        GuestDetailsResponse.Builder r = GuestDetailsResponse.newBuilder();
        Path mem = cfg.sysfs().resolve("devices/system/memory");
        if (req.getMemBlockSize()) {
            try {
                String hex = Files.readString(mem.resolve("block_size_bytes")).trim();
                r.setMemBlockSizeBytes(Long.parseUnsignedLong(hex, 16));
            } catch (IOException | NumberFormatException e) {
                LOG.warn("memory block size unknown: {}", e.getMessage());
            }
        }
        if (req.getMemHotplugProbe()) {
            r.setSupportMemHotplugProbe(Files.exists(mem.resolve("probe")));
        }
        r.setAgentDetails(AgentDetails.newBuilder()
                .setVersion(AgentConfig.VERSION)
                .setInitDaemon(false)
                .addAllStorageHandlers(List.of("virtio-fs", "local", "ephemeral", "bind", "blk", "9p"))
                .setSupportsSeccomp(true));
        return r.build();
    }

    /** Brings offline CPUs (and memory blocks) online; with wait, until nb_cpus are. */
    static void onlineCpuMem(AgentConfig cfg, OnlineCPUMemRequest req) {
        // Hot-added CPUs appear as the guest handles the ACPI event: slow under TCG on a busy host.
        onlineCpuMem(cfg, req, 30_000);
    }

    static void onlineCpuMem(AgentConfig cfg, OnlineCPUMemRequest req, long waitMillis) {
        Path cpus = cfg.sysfs().resolve("devices/system/cpu");
        long deadline = System.currentTimeMillis() + waitMillis;
        // A CPU the kernel failed to bring up is not tried again in this call: each try can take the kernel 10 s.
        Map<String, String> failed = new TreeMap<>();
        while (true) {
            int online = onlineAll(cpus, "cpu", failed);
            if (!req.getWait() || req.getNbCpus() == 0 || online >= req.getNbCpus()) {
                break;
            }
            if (System.currentTimeMillis() > deadline) {
                throw AgentException.internal("only " + online + " of " + req.getNbCpus() + " CPUs came online"
                        + (failed.isEmpty() ? "" : "; the kernel refused " + failed), null);
            }
            sleep(50);
        }
        if (!req.getCpuOnly()) {
            onlineAll(cfg.sysfs().resolve("devices/system/memory"), "memory", new TreeMap<>());
        }
    }

    private static int onlineAll(Path dir, String prefix, Map<String, String> failed) {
        int online = 0;
        try (var s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s.sorted()::iterator) {
                String n = p.getFileName().toString();
                if (!n.startsWith(prefix) || !n.substring(prefix.length()).matches("[0-9]+")) {
                    continue;
                }
                Path f = p.resolve("online");
                if (!Files.exists(f)) {
                    online++; // cpu0 often cannot go offline and has no switch
                    continue;
                }
                if (Files.readString(f).trim().equals("1")) {
                    online++;
                    continue;
                }
                if (failed.containsKey(n)) {
                    continue;
                }
                try {
                    long t0 = System.nanoTime();
                    Files.writeString(f, "1");
                    online++;
                    LOG.info("{} online in {} ms", n, (System.nanoTime() - t0) / 1_000_000);
                } catch (IOException e) {
                    failed.put(n, e.getMessage());
                    LOG.warn("cannot online {}: {}", p, e.getMessage());
                }
            }
        } catch (IOException e) {
            throw AgentException.internal("list " + dir + ": " + e.getMessage(), e);
        }
        return online;
    }

    static void memHotplugByProbe(AgentConfig cfg, List<Long> addrs) {
        Path probe = cfg.sysfs().resolve("devices/system/memory/probe");
        for (long a : addrs) {
            try {
                Files.writeString(probe, "0x" + Long.toHexString(a));
            } catch (IOException e) {
                throw AgentException.internal("memory probe 0x" + Long.toHexString(a) + ": " + e.getMessage(), e);
            }
        }
    }

    /** RNDADDENTROPY, _IOW('R', 0x03, int[2]): mixes bytes into the input pool and credits them as entropy. */
    static final long RNDADDENTROPY = 0x40085203;
    /** RNDRESEEDCRNG, _IO('R', 0x07): the kernel reseeds its CRNG from the input pool now. */
    static final long RNDRESEEDCRNG = 0x5207;

    /**
     * The host's bytes into the guest's input pool, credited (RNDADDENTROPY: a guest without a hardware RNG under TCG
     * has not finished seeding its CRNG, and credited bytes finish it), then a reseed at once (RNDRESEEDCRNG): a plain
     * write changes what getrandom() returns only at the next reseed, up to a minute later, and clones of one
     * template would until then draw the same bytes.
     */
    static void reseed(byte[] data) {
        if (data.length == 0) {
            throw AgentException.invalid("no random data");
        }
        int fd = -1;
        try {
            fd = Libc.C.open("/dev/urandom", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            // struct rand_pool_info { int entropy_count (bits); int buf_size (bytes); __u32 buf[]; }
            Memory info = new Memory(8L + data.length);
            info.setInt(0, data.length * 8);
            info.setInt(4, data.length);
            info.write(8, data, 0, data.length);
            Libc.C.ioctl(fd, RNDADDENTROPY, info);
            Libc.C.ioctl(fd, RNDRESEEDCRNG, null);
        } catch (LastErrorException e) {
            throw AgentException.internal("reseed: " + Libc.C.strerror(e.getErrorCode()), e);
        } finally {
            if (fd >= 0) {
                Libc.C.close(fd);
            }
        }
    }

    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;

    /** One chunk of a file; the file appears (renamed into place) once all bytes are there. */
    static void copyFile(AgentConfig cfg, CopyFileRequest req) {
        Path path = Path.of(req.getPath()).normalize();
        if (!req.getPath().startsWith("/") || !path.startsWith(cfg.copyFileBase())) {
            throw AgentException.invalid("CopyFile path '" + req.getPath() + "' is not below " + cfg.copyFileBase());
        }
        if (req.getOffset() < 0 || req.getFileSize() < 0) {
            throw AgentException.invalid("CopyFile offset/file_size must not be negative");
        }
        try {
            Path parent = path.getParent();
            if (!Files.isDirectory(parent)) {
                Files.createDirectories(parent);
                if (req.getDirMode() != 0) {
                    Files.setPosixFilePermissions(parent, perms(req.getDirMode()));
                }
            }
            int type = req.getFileMode() & S_IFMT;
            if (type == S_IFDIR) {
                Files.createDirectories(path);
                Files.setPosixFilePermissions(path, perms(req.getFileMode()));
                chown(path, req.getUid(), req.getGid());
                return;
            }
            if (type == S_IFLNK) {
                Files.deleteIfExists(path);
                Files.createSymbolicLink(path, Path.of(req.getData().toStringUtf8()));
                return;
            }
            Path tmp = path.resolveSibling(path.getFileName() + ".nemu-tmp");
            try (RandomAccessFile f = new RandomAccessFile(tmp.toFile(), "rw")) {
                f.seek(req.getOffset());
                f.write(req.getData().toByteArray());
                if (f.length() < req.getFileSize()) {
                    return; // more chunks to come
                }
                f.setLength(req.getFileSize());
            }
            Files.setPosixFilePermissions(tmp, perms(req.getFileMode()));
            chown(tmp, req.getUid(), req.getGid());
            Files.move(tmp, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw AgentException.internal("CopyFile " + path + ": " + e.getMessage(), e);
        }
    }

    private static void chown(Path p, int uid, int gid) throws IOException {
        if (uid >= 0 && gid >= 0) {
            Files.setAttribute(p, "unix:uid", uid, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            Files.setAttribute(p, "unix:gid", gid, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        }
    }

    static Set<PosixFilePermission> perms(int mode) {
        Set<PosixFilePermission> s = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] order = {
            PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_READ,
            PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_READ};
        for (int i = 0; i < 9; i++) {
            if ((mode & (1 << i)) != 0) {
                s.add(order[i]);
            }
        }
        return s;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AgentException.internal("interrupted", e);
        }
    }
}
