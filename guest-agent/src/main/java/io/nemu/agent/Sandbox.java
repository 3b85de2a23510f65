package io.nemu.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.sys.ConsoleSocket;
import io.nemu.agent.sys.Fd;
import io.nemu.agent.sys.Mounts;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.KernelModule;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.Storage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/** The pod inside the VM: its containers, their processes and the sandbox-wide mounts. */
final class Sandbox {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}");
    private static final int DEFAULT_READ = 32 * 1024;

    private final AgentConfig cfg;
    private final Crun crun;
    private final Cgroups cgroups;
    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final List<Path> sandboxMounts = new ArrayList<>();
    private final java.util.Set<String> cgroupPaths = ConcurrentHashMap.newKeySet();
    private final BlockingQueue<String> oomEvents = new LinkedBlockingQueue<>();
    private final AtomicInteger sockets = new AtomicInteger();
    private final Object lifecycle = new Object();
    private volatile boolean created;
    private volatile String sandboxId = "";
    private volatile boolean sandboxPidns;
    // The first container's init holds the ipc/uts (and, if asked, pid) namespaces the pod shares.
    private volatile Container nsHolder;

    Sandbox(AgentConfig cfg) {
        this.cfg = cfg;
        this.crun = new Crun(cfg.crun(), cfg.crunRoot());
        this.cgroups = new Cgroups(cfg.cgroupRoot());
    }

    AgentConfig config() {
        return cfg;
    }

    // ---- sandbox

    void createSandbox(CreateSandboxRequest req) {
        synchronized (lifecycle) {
            if (created) {
                throw AgentException.exists("the sandbox " + sandboxId + " already exists");
            }
            for (KernelModule m : req.getKernelModulesList()) {
                loadModule(m);
            }
            if (!req.getGuestHookPath().isEmpty()) {
                throw AgentException.invalid("guest_hook_path is not supported by this agent");
            }
            if (!req.getHostname().isEmpty()) {
                GuestOps.setHostname(cfg, req.getHostname());
            }
            if (req.getDnsCount() > 0) {
                GuestOps.writeDns(cfg, req.getDnsList());
            }
            List<Path> mounted = new ArrayList<>();
            try {
                for (int i = 0; i < req.getStoragesCount(); i++) {
                    Path p = mountStorage(req.getStorages(i), "storages[" + i + "]");
                    if (p != null) {
                        mounted.add(p);
                    }
                }
            } catch (RuntimeException e) {
                unmountAll(mounted);
                throw e;
            }
            sandboxMounts.addAll(mounted);
            sandboxId = req.getSandboxId();
            sandboxPidns = req.getSandboxPidns();
            created = true;
            Log.info("sandbox %s created (%d storages)", sandboxId, mounted.size());
        }
    }

    private static void loadModule(KernelModule m) {
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

    void destroySandbox() {
        synchronized (lifecycle) {
            for (String id : List.copyOf(containers.keySet())) {
                try {
                    removeContainer(id, 0);
                } catch (RuntimeException e) {
                    Log.warn("destroy sandbox: container %s: %s", id, e.getMessage());
                }
            }
            unmountAll(sandboxMounts);
            sandboxMounts.clear();
            // crun removes a container's own cgroup; the parents it made for it (the spec's
            // /kubepods/... or our default) go here, deepest first, and only when empty.
            java.util.TreeSet<String> parents = new java.util.TreeSet<>(Comparator.reverseOrder());
            for (String p : cgroupPaths) {
                for (Path q = Path.of(p).getParent(); q != null && q.getNameCount() > 0; q = q.getParent()) {
                    parents.add(q.toString());
                }
            }
            for (String p : parents) {
                for (Path d : cgroups.dirs(p)) {
                    try {
                        Files.deleteIfExists(d);
                    } catch (IOException e) {
                        Log.warn("cgroup %s left: %s", d, e.getMessage());
                    }
                }
            }
            cgroupPaths.clear();
            oomEvents.clear();
            created = false;
            nsHolder = null;
            Log.info("sandbox %s destroyed", sandboxId);
            sandboxId = "";
        }
    }

    /** Mounts one Storage; returns the mount point, or null when nothing was mounted. */
    private Path mountStorage(Storage s, String where) {
        String driver = s.getDriver();
        String mp = s.getMountPoint();
        String source = s.getSource();
        String fstype = s.getFstype();
        switch (driver) {
            case "virtio-fs", "virtiofs" -> {
                if (mp.isEmpty()) {
                    mp = cfg.sharedDir().toString();
                }
                source = source.isEmpty() ? "kataShared" : source;
                fstype = fstype.isEmpty() ? "virtiofs" : fstype;
            }
            case "ephemeral" -> {
                source = source.isEmpty() ? "tmpfs" : source;
                fstype = fstype.isEmpty() ? "tmpfs" : fstype;
            }
            case "local" -> {
                if (mp.isEmpty() || !mp.startsWith("/")) {
                    throw AgentException.invalid(where + ".mount_point '" + mp + "' must be an absolute path");
                }
                try {
                    Files.createDirectories(Path.of(mp));
                } catch (IOException e) {
                    throw AgentException.internal(where + ": cannot create " + mp + ": " + e.getMessage(), e);
                }
                return null;
            }
            case "bind", "9p", "overlayfs", "" -> {
                if (fstype.isEmpty() && !driver.equals("bind")) {
                    throw AgentException.invalid(where + ".fstype is empty");
                }
            }
            default -> throw AgentException.invalid(where + ".driver '" + driver + "' is not supported by this agent");
        }
        if (mp.isEmpty() || !mp.startsWith("/")) {
            throw AgentException.invalid(where + ".mount_point '" + mp + "' must be an absolute path");
        }
        Path target = Path.of(mp);
        if (Mounts.isMountPoint(target) && (driver.startsWith("virtio") || s.getShared())) {
            return null; // the pod's share, mounted once
        }
        try {
            Mounts.mount(source, target, fstype, s.getOptionsList());
        } catch (IOException e) {
            throw AgentException.internal(where + ": " + e.getMessage(), e);
        }
        return target;
    }

    private static void unmountAll(List<Path> mounts) {
        for (int i = mounts.size() - 1; i >= 0; i--) {
            Mounts.unmount(mounts.get(i));
        }
    }

    // ---- containers

    private Container container(String id) {
        Container c = containers.get(id);
        if (c == null) {
            throw AgentException.notFound("container '" + id + "' not found");
        }
        return c;
    }

    private AgentProcess process(String cid, String execId) {
        Container c = container(cid);
        if (execId.isEmpty() || execId.equals(c.initExecId) && !c.execs.containsKey(execId)) {
            return c.init;
        }
        AgentProcess p = c.execs.get(execId);
        if (p == null) {
            throw AgentException.notFound("exec id '" + execId + "' not found in container '" + cid + "'");
        }
        return p;
    }

    void createContainer(CreateContainerRequest req) {
        String cid = req.getContainerId();
        if (!ID.matcher(cid).matches()) {
            throw AgentException.invalid("container_id '" + cid + "' is not a valid id");
        }
        if (!req.hasOCI()) {
            throw AgentException.invalid("OCI spec is missing");
        }
        Spec spec = req.getOCI();
        if (!spec.hasProcess()) {
            throw AgentException.invalid("OCI.Process is missing");
        }
        OciSpecs.process(spec.getProcess(), req.getStringUser(), "OCI.Process"); // validates early
        // What this agent cannot honour is refused, never silently dropped.
        if (req.getDevicesCount() > 0) {
            throw AgentException.invalid("devices (" + req.getDevices(0).getType() + " " + req.getDevices(0).getId()
                    + ") are not supported by this agent");
        }
        if (req.getSharedMountsCount() > 0) {
            throw AgentException.invalid("shared_mounts are not supported by this agent");
        }
        if (req.getStdinPort() != 0 || req.getStdoutPort() != 0 || req.getStderrPort() != 0) {
            throw AgentException.invalid("stdio ports (passfd) are not supported by this agent");
        }
        String cgroupsPath = cgroupsPath(spec.getLinux().getCgroupsPath(), cid);
        Path rootSrc = rootPath(spec, cid);
        Path bundle = cfg.containersDir().resolve(cid);
        synchronized (lifecycle) {
            if (containers.containsKey(cid)) {
                throw AgentException.exists("container '" + cid + "' already exists");
            }
            if (Files.exists(bundle)) {
                throw AgentException.exists("container '" + cid + "' has a leftover bundle " + bundle);
            }
            cgroupPaths.add(cgroupsPath);
            List<Path> mounts = new ArrayList<>();
            AgentProcess.PipeEnds pipes = null;
            Fd master = null;
            AgentProcess proc = null;
            boolean crunCreated = false;
            try {
                for (int i = 0; i < req.getStoragesCount(); i++) {
                    Path p = mountStorage(req.getStorages(i), "storages[" + i + "]");
                    if (p != null) {
                        mounts.add(p);
                    }
                }
                if (!Files.isDirectory(rootSrc)) {
                    throw AgentException.invalid("OCI.Root.Path " + rootSrc + " is not a directory");
                }
                Path rootfs = bundle.resolve("rootfs");
                Files.createDirectories(rootfs);
                Mounts.bind(rootSrc, rootfs);
                mounts.add(rootfs);

                Container holder = nsHolder;
                boolean share = holder != null && !holder.init.exited();
                String nsBase = share ? "/proc/" + holder.init.pid() + "/ns/" : null;
                OciSpecs.Namespaces ns = OciSpecs.Namespaces.resolve(spec.getLinux(), nsBase,
                        req.getSandboxPidns() || sandboxPidns);
                ObjectNode config = OciSpecs.config(spec, rootfs.toString(), cgroupsPath, ns, req.getStringUser());
                GuestOps.writeSysctls(cfg, OciSpecs.podNetworkSysctls(spec.getLinux()));
                Files.write(bundle.resolve("config.json"), OciSpecs.bytes(config));

                Path log = bundle.resolve("crun.log");
                Path pidFile = bundle.resolve("pid");
                List<String> args = new ArrayList<>(List.of("create", "--bundle", bundle.toString(),
                        "--pid-file", pidFile.toString()));
                if (spec.getProcess().getTerminal()) {
                    try (ConsoleSocket sock = consoleSocket()) {
                        args.addAll(List.of("--console-socket", sock.path().toString(), cid));
                        Spawner.Child child = crun.start(log, args, null, null, null);
                        try {
                            master = sock.receive(() -> child.exit().isDone(), 60_000);
                        } catch (IOException e) {
                            throw crunFailed("create", child, log, e.getMessage());
                        }
                        crunCreated = finish("create", child, log);
                    }
                    proc = AgentProcess.withTerminal(cid, "", master);
                } else {
                    pipes = AgentProcess.PipeEnds.create();
                    args.add(cid);
                    Spawner.Child child = crun.start(log, args, pipes.childIn(), pipes.childOut(), pipes.childErr());
                    pipes.closeChildEnds();
                    crunCreated = finish("create", child, log);
                    proc = AgentProcess.withPipes(cid, "", pipes);
                }
                proc.started(readPid(pidFile));
                Container c = new Container(cid, req.getExecId(), bundle, cgroupsPath, mounts, proc);
                watchOom(c);
                containers.put(cid, c);
                if (nsHolder == null || nsHolder.init.exited()) {
                    nsHolder = c;
                }
                Log.info("container %s created, init pid %d", cid, proc.pid());
            } catch (RuntimeException | IOException e) {
                releaseStdio(proc, pipes, master);
                if (crunCreated || Files.exists(cfg.crunRoot().resolve(cid))) {
                    tryRun(null, "delete", "--force", cid);
                }
                unmountAll(mounts);
                deleteTree(bundle);
                if (e instanceof AgentException ae) {
                    throw ae;
                }
                throw AgentException.internal("create container " + cid + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Undoes stdio after a failed create/exec. Once a process has its pumps, their read ends are
     * theirs to close (at end of file): closing them here could hit a reused descriptor number.
     */
    private static void releaseStdio(AgentProcess proc, AgentProcess.PipeEnds pipes, Fd master) {
        if (proc != null) {
            proc.release();
            if (pipes != null) {
                pipes.closeChildEnds();
            }
        } else {
            if (pipes != null) {
                pipes.closeAll();
            }
            Fd.closeAll(master);
        }
    }

    private String cgroupsPath(String fromSpec, String cid) {
        String p = fromSpec;
        if (p.isEmpty() || p.contains(":")) {
            // empty, or a systemd slice triple: the guest uses plain cgroupfs
            p = cfg.cgroupParent() + "/" + cid;
        }
        if (!p.startsWith("/")) {
            p = "/" + p;
        }
        for (String part : p.split("/")) {
            if (part.equals("..") || part.equals(".")) {
                throw AgentException.invalid("OCI.Linux.CgroupsPath '" + fromSpec + "' has '.' or '..' parts");
            }
        }
        return p;
    }

    private Path rootPath(Spec spec, String cid) {
        String p = spec.getRoot().getPath();
        Path base = cfg.sharedDir().resolve(cid);
        if (p.isEmpty()) {
            return base.resolve("rootfs");
        }
        if (p.startsWith("/")) {
            return Path.of(p).normalize();
        }
        Path path = base.resolve(p).normalize();
        if (!path.startsWith(base)) {
            throw AgentException.invalid("OCI.Root.Path '" + p + "' leaves the container's shared directory");
        }
        return path;
    }

    private ConsoleSocket consoleSocket() throws IOException {
        Files.createDirectories(cfg.socketsDir());
        return new ConsoleSocket(cfg.socketsDir().resolve(sockets.incrementAndGet() + ".sock"));
    }

    /** Waits for a crun create/exec to end; true on success, else throws with its error. */
    private boolean finish(String what, Spawner.Child child, Path log) {
        int status;
        try {
            status = child.exit().get(60, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            Spawner.kill(child.pid(), 9);
            throw AgentException.internal("crun " + what + " did not finish within 60 s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AgentException.internal("interrupted waiting for crun " + what, e);
        } catch (ExecutionException e) {
            throw AgentException.internal("crun " + what + ": " + e.getCause(), e);
        }
        if (status != 0) {
            throw AgentException.internal("crun " + what + " failed (" + status + "): " + Crun.errorText(null, log), null);
        }
        return true;
    }

    private AgentException crunFailed(String what, Spawner.Child child, Path log, String detail) {
        Spawner.kill(child.pid(), 9);
        try {
            child.exit().get(10, TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // reaped later by the reaper anyway
        }
        return AgentException.internal("crun " + what + ": " + detail + ": " + Crun.errorText(null, log), null);
    }

    private static int readPid(Path pidFile) throws IOException {
        String s = Files.readString(pidFile, StandardCharsets.US_ASCII).trim();
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw new IOException("crun wrote no pid to " + pidFile + ": '" + s + "'");
        }
    }

    private void watchOom(Container c) {
        if (c.id.equals(sandboxId)) {
            return; // the pause container: its OOM is the pod's, reported by the host
        }
        try {
            c.oomWatch = cgroups.watchOom(c.cgroupsPath, () -> {
                Log.info("container %s: OOM kill", c.id);
                oomEvents.add(c.id);
            });
        } catch (IOException e) {
            Log.warn("container %s: no OOM events: %s", c.id, e.getMessage());
        }
    }

    void startContainer(String cid) {
        Container c = container(cid);
        synchronized (c) {
            if (c.state != Container.State.CREATED) {
                throw AgentException.precondition("container '" + cid + "' is " + c.state + ", not CREATED");
            }
            crun.run(c.log(), "start", cid);
            c.state = Container.State.RUNNING;
        }
        Log.info("container %s started", cid);
    }

    void removeContainer(String cid, int timeoutSeconds) {
        Container c = container(cid);
        synchronized (c) {
            if (!containers.containsKey(cid)) {
                throw AgentException.notFound("container '" + cid + "' not found");
            }
            closeQuietly(c.oomWatch);
            tryRun(c.log(), "delete", "--force", cid);
            long wait = timeoutSeconds > 0 ? timeoutSeconds : 30;
            List<AgentProcess> all = new ArrayList<>(c.execs.values());
            all.add(c.init);
            for (AgentProcess p : all) {
                if (!p.exited() && p.pid() > 0) {
                    Spawner.kill(p.pid(), 9);
                }
                try {
                    p.exit().get(wait, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    throw new AgentException(io.grpc.Status.Code.DEADLINE_EXCEEDED,
                            "container '" + cid + "': process " + p.pid() + " still alive after " + wait + " s", e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw AgentException.internal("interrupted", e);
                } catch (ExecutionException e) {
                    // cannot happen: exits complete normally
                }
                p.release();
            }
            unmountAll(c.mounts);
            deleteTree(c.bundle);
            containers.remove(cid);
            if (nsHolder == c) {
                nsHolder = null;
            }
        }
        Log.info("container %s removed", cid);
    }

    private void tryRun(Path log, String... args) {
        try {
            crun.run(log, args);
        } catch (AgentException e) {
            Log.warn("%s", e.getMessage());
        }
    }

    void pause(String cid) {
        Container c = container(cid);
        synchronized (c) {
            crun.run(c.log(), "pause", cid);
            c.state = Container.State.PAUSED;
        }
    }

    void resume(String cid) {
        Container c = container(cid);
        synchronized (c) {
            crun.run(c.log(), "resume", cid);
            c.state = Container.State.RUNNING;
        }
    }

    void update(String cid, LinuxResources resources) {
        Container c = container(cid);
        ObjectNode json = OciSpecs.resources(resources);
        Path file = c.bundle.resolve("update-" + c.nextExecFile() + ".json");
        try {
            Files.write(file, OciSpecs.bytes(json));
            crun.run(c.log(), "update", "--resources", file.toString(), cid);
        } catch (IOException e) {
            throw AgentException.internal("update " + cid + ": " + e.getMessage(), e);
        } finally {
            file.toFile().delete();
        }
    }

    StatsContainerResponse stats(String cid) {
        Container c = container(cid);
        return StatsContainerResponse.newBuilder().setCgroupStats(cgroups.stats(c.cgroupsPath)).build();
    }

    // ---- processes

    void exec(ExecProcessRequest req) {
        String cid = req.getContainerId();
        String eid = req.getExecId();
        if (!ID.matcher(eid).matches()) {
            throw AgentException.invalid("exec_id '" + eid + "' is not a valid id");
        }
        if (!req.hasProcess()) {
            throw AgentException.invalid("process is missing");
        }
        if (req.getStdinPort() != 0 || req.getStdoutPort() != 0 || req.getStderrPort() != 0) {
            throw AgentException.invalid("stdio ports (passfd) are not supported by this agent");
        }
        ObjectNode json = OciSpecs.process(req.getProcess(), req.getStringUser(), "process");
        Container c = container(cid);
        synchronized (c) {
            pruneExecs(c);
            if (c.execs.containsKey(eid) || eid.equals(c.initExecId)) {
                throw AgentException.exists("exec id '" + eid + "' already exists in container '" + cid + "'");
            }
            if (c.init.exited() || c.state == Container.State.CREATED) {
                throw AgentException.precondition("container '" + cid + "' is not running");
            }
            int n = c.nextExecFile();
            Path procFile = c.bundle.resolve("exec-" + n + ".json");
            Path pidFile = c.bundle.resolve("exec-" + n + ".pid");
            AgentProcess.PipeEnds pipes = null;
            Fd master = null;
            AgentProcess p = null;
            try {
                Files.write(procFile, OciSpecs.bytes(json));
                List<String> args = new ArrayList<>(List.of("exec", "--detach", "--pid-file", pidFile.toString(),
                        "--process", procFile.toString()));
                if (req.getProcess().getTerminal()) {
                    try (ConsoleSocket sock = consoleSocket()) {
                        args.addAll(List.of("--console-socket", sock.path().toString(), cid));
                        Spawner.Child child = crun.start(c.log(), args, null, null, null);
                        try {
                            master = sock.receive(() -> child.exit().isDone(), 60_000);
                        } catch (IOException e) {
                            throw crunFailed("exec", child, c.log(), e.getMessage());
                        }
                        finish("exec", child, c.log());
                    }
                    p = AgentProcess.withTerminal(cid, eid, master);
                } else {
                    pipes = AgentProcess.PipeEnds.create();
                    args.add(cid);
                    Spawner.Child child = crun.start(c.log(), args, pipes.childIn(), pipes.childOut(), pipes.childErr());
                    pipes.closeChildEnds();
                    finish("exec", child, c.log());
                    p = AgentProcess.withPipes(cid, eid, pipes);
                }
                p.started(readPid(pidFile));
                c.execs.put(eid, p);
                Log.info("container %s: exec %s pid %d", cid, eid, p.pid());
            } catch (RuntimeException | IOException e) {
                releaseStdio(p, pipes, master);
                if (p != null && p.pid() > 0 && !p.exited()) {
                    Spawner.kill(p.pid(), 9);
                }
                if (e instanceof AgentException ae) {
                    throw ae;
                }
                throw AgentException.internal("exec in " + cid + ": " + e.getMessage(), e);
            } finally {
                procFile.toFile().delete();
                pidFile.toFile().delete();
            }
        }
    }

    private static void pruneExecs(Container c) {
        c.execs.values().removeIf(p -> {
            if (p.finished()) {
                p.release();
                return true;
            }
            return false;
        });
    }

    void signal(String cid, String eid, int sig) {
        if (sig < 0 || sig > 64) {
            throw AgentException.invalid("signal " + sig + " is not a signal number");
        }
        Container c = container(cid);
        AgentProcess p = process(cid, eid);
        if (sig == 0) {
            // a liveness probe
            if (p.exited()) {
                throw AgentException.notFound("process '" + eid + "' of container '" + cid + "' has exited");
            }
            return;
        }
        if (p.exited()) {
            return; // nothing left to signal
        }
        if (p == c.init) {
            // An init without a SIGTERM handler ignores it (it is pid 1 of its namespace): Kata kills it.
            if (sig == 15 && !handles(p.pid(), sig)) {
                sig = 9;
            }
            synchronized (c) {
                try {
                    // No exec id: every process of the container; the init's own id: just the init.
                    if (eid.isEmpty()) {
                        crun.run(c.log(), "kill", "--all", cid, Integer.toString(sig));
                    } else {
                        crun.run(c.log(), "kill", cid, Integer.toString(sig));
                    }
                } catch (AgentException e) {
                    if (!p.exited()) {
                        throw e;
                    }
                }
            }
        } else {
            Spawner.kill(p.pid(), sig);
        }
    }

    /** Whether the process catches {@code sig}, from SigCgt in /proc/PID/status. */
    static boolean handles(int pid, int sig) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith("SigCgt:")) {
                    long mask = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return (mask & (1L << (sig - 1))) != 0;
                }
            }
        } catch (IOException | NumberFormatException ignored) {
            // gone or unreadable: treat as not handled
        }
        return false;
    }

    int waitProcess(String cid, String eid) {
        AgentProcess p = process(cid, eid);
        try {
            int status = p.exit().get();
            p.markWaited();
            return status;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AgentException.internal("interrupted while waiting", e);
        } catch (ExecutionException e) {
            throw AgentException.internal("wait: " + e.getCause(), e);
        }
    }

    int writeStdin(String cid, String eid, byte[] data) {
        AgentProcess p = process(cid, eid);
        try {
            return p.writeStdin(data);
        } catch (IOException e) {
            throw AgentException.internal("write stdin: " + e.getMessage(), e);
        }
    }

    void closeStdin(String cid, String eid) {
        try {
            process(cid, eid).closeStdin();
        } catch (IOException e) {
            throw AgentException.internal("close stdin: " + e.getMessage(), e);
        }
    }

    void resize(String cid, String eid, int rows, int cols) {
        process(cid, eid).resize(rows, cols);
    }

    /** Some output, blocking until there is any; null at end of stream. */
    byte[] read(String cid, String eid, int len, boolean stdout) {
        AgentProcess p = process(cid, eid);
        int max = len <= 0 ? DEFAULT_READ : Math.min(len, 4 << 20);
        try {
            if (!stdout && p.terminal) {
                p.exit().get(); // a terminal has one stream: stderr just ends with the process
                return null;
            }
            return (stdout ? p.stdout : p.stderr).take(max);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw AgentException.internal("interrupted while reading", e);
        } catch (ExecutionException e) {
            return null;
        }
    }

    /** The next OOM-killed container's id, or null after {@code timeout}. */
    String nextOomEvent(long timeout, TimeUnit unit) throws InterruptedException {
        return oomEvents.poll(timeout, unit);
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // best effort on the way out
            }
        }
    }

    /** Removes a directory tree, never descending into a mount point (a rootfs still bound there). */
    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        java.util.Set<String> mountPoints = Mounts.mountPoints();
        try {
            Files.walkFileTree(dir, new java.nio.file.SimpleFileVisitor<>() {
                @Override
                public java.nio.file.FileVisitResult preVisitDirectory(Path d,
                        java.nio.file.attribute.BasicFileAttributes a) {
                    if (mountPoints.contains(d.toAbsolutePath().normalize().toString())) {
                        Log.warn("not removing %s: still a mount point", d);
                        return java.nio.file.FileVisitResult.SKIP_SUBTREE;
                    }
                    return java.nio.file.FileVisitResult.CONTINUE;
                }

                @Override
                public java.nio.file.FileVisitResult visitFile(Path f, java.nio.file.attribute.BasicFileAttributes a)
                        throws IOException {
                    Files.deleteIfExists(f);
                    return java.nio.file.FileVisitResult.CONTINUE;
                }

                @Override
                public java.nio.file.FileVisitResult postVisitDirectory(Path d, IOException e) {
                    d.toFile().delete();
                    return java.nio.file.FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            Log.warn("cannot remove %s: %s", dir, e.getMessage());
        }
    }
}
