package io.nemu.agent;

import com.google.protobuf.ByteString;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.oci.OciJson;
import io.nemu.agent.oci.OciProcess;
import io.nemu.agent.oci.OciSpecs;
import io.nemu.agent.storage.StorageDrivers;
import io.nemu.agent.sys.Mounts;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.KernelModule;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.VolumeStatsResponse;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod inside the VM: its sandbox-wide mounts, its containers by id and their processes' stdio and OOM
 * events. The parts live elsewhere: storages in {@code storage/}, crun in {@link Crun}, a container's
 * lifecycle in {@link Container} and {@link ContainerState}, the OCI JSON in {@code oci/}.
 */
final class Sandbox {

    private static final Logger LOG = LoggerFactory.getLogger(Sandbox.class);

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}");
    private static final int DEFAULT_READ = 32 * 1024;
    /** The most one ReadStdout/ReadStderr returns: a whole stream buffer, well inside ttrpc's 4 MiB frame. */
    static final int MAX_READ = AgentProcess.BUFFER;

    private final AgentConfig cfg;
    private final Crun crun;
    private final Cgroups cgroups;
    private final StorageDrivers storage;
    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final List<Path> sandboxMounts = new ArrayList<>();
    private final Set<String> cgroupPaths = ConcurrentHashMap.newKeySet();
    private final BlockingQueue<String> oomEvents = new LinkedBlockingQueue<>();
    private final Object lifecycle = new Object();
    private volatile boolean created;
    private volatile String sandboxId = "";
    private volatile boolean sandboxPidns;
    // The first container's init holds the ipc/uts (and, if asked, pid) namespaces the pod shares.
    private volatile Container nsHolder;

    Sandbox(AgentConfig cfg) {
        this.cfg = cfg;
        this.crun = new Crun(cfg.crun(), cfg.crunRoot(), cfg.socketsDir());
        this.cgroups = new Cgroups(cfg.cgroupRoot());
        this.storage = new StorageDrivers(cfg.sharedDir(), cfg.sysfs(), Path.of("/dev"));
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
                GuestOps.loadModule(m);
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
            List<Path> mounted = storage.mountAll(req.getStoragesList());
            sandboxMounts.addAll(mounted);
            sandboxId = req.getSandboxId();
            sandboxPidns = req.getSandboxPidns();
            created = true;
            LOG.info("sandbox {} created ({} storages)", sandboxId, mounted.size());
        }
    }

    void destroySandbox() {
        synchronized (lifecycle) {
            for (String id : List.copyOf(containers.keySet())) {
                try {
                    removeContainer(id, 0);
                } catch (RuntimeException e) {
                    LOG.warn("destroy sandbox: container {}: {}", id, e.getMessage());
                }
            }
            StorageDrivers.unmountAll(sandboxMounts);
            sandboxMounts.clear();
            cgroups.removeParents(cgroupPaths);
            cgroupPaths.clear();
            oomEvents.clear();
            created = false;
            nsHolder = null;
            LOG.info("sandbox {} destroyed", sandboxId);
            sandboxId = "";
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

    void createContainer(CreateContainerRequest req) {
        String cid = req.getContainerId();
        requireId("container_id", cid);
        if (!req.hasOCI()) {
            throw AgentException.invalid("OCI spec is missing");
        }
        Spec spec = req.getOCI();
        if (!spec.hasProcess()) {
            throw AgentException.invalid("OCI.Process is missing");
        }
        OciProcess.process(spec.getProcess(), req.getStringUser(), "OCI.Process"); // validates early
        // What this agent cannot honour is refused, never silently dropped.
        if (req.getDevicesCount() > 0) {
            throw AgentException.invalid("devices (" + req.getDevices(0).getType() + " " + req.getDevices(0).getId()
                    + ") are not supported by this agent");
        }
        if (req.getSharedMountsCount() > 0) {
            throw AgentException.invalid("shared_mounts are not supported by this agent");
        }
        refusePassfd(req.getStdinPort(), req.getStdoutPort(), req.getStderrPort());
        String cgroupsPath = Cgroups.containerPath(spec.getLinux().getCgroupsPath(), cfg.cgroupParent(), cid);
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
            try {
                mounts.addAll(storage.mountAll(req.getStoragesList()));
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
                Files.write(bundle.resolve("config.json"), OciJson.bytes(config));

                Path pidFile = bundle.resolve("pid");
                AgentProcess init = crun.spawn(List.of("create", "--bundle", bundle.toString(),
                        "--pid-file", pidFile.toString()), cid, "", spec.getProcess().getTerminal(),
                        Container.log(bundle), pidFile);
                Container c = new Container(cid, req.getExecId(), bundle, cgroupsPath, mounts, init, crun);
                watchOom(c);
                containers.put(cid, c);
                if (nsHolder == null || nsHolder.init.exited()) {
                    nsHolder = c;
                }
                LOG.info("container {} created, init pid {}", cid, init.pid());
            } catch (RuntimeException | IOException e) {
                if (crun.knows(cid)) {
                    crun.deleteQuietly(null, cid);
                }
                StorageDrivers.unmountAll(mounts);
                Mounts.deleteTree(bundle);
                throw AgentException.wrap("create container " + cid, e);
            }
        }
    }

    private static void requireId(String field, String id) {
        if (!ID.matcher(id).matches()) {
            throw AgentException.invalid(field + " '" + id + "' is not a valid id");
        }
    }

    private static void refusePassfd(int stdinPort, int stdoutPort, int stderrPort) {
        if (stdinPort != 0 || stdoutPort != 0 || stderrPort != 0) {
            throw AgentException.invalid("stdio ports (passfd) are not supported by this agent");
        }
    }

    /** The container's root in the guest: the spec's absolute path, or one below its shared directory. */
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

    private void watchOom(Container c) {
        if (c.id.equals(sandboxId)) {
            return; // the pause container: its OOM is the pod's, reported by the host
        }
        try {
            c.oomWatch = cgroups.watchOom(c.cgroupsPath, () -> {
                LOG.info("container {}: OOM kill", c.id);
                oomEvents.add(c.id);
            });
        } catch (IOException e) {
            LOG.warn("container {}: no OOM events: {}", c.id, e.getMessage());
        }
    }

    void startContainer(String cid) {
        container(cid).start();
    }

    void removeContainer(String cid, int timeoutSeconds) {
        Container c = container(cid);
        c.remove(timeoutSeconds);
        containers.remove(cid, c);
        if (nsHolder == c) {
            nsHolder = null;
        }
        LOG.info("container {} removed", cid);
    }

    void pause(String cid) {
        container(cid).pause();
    }

    void resume(String cid) {
        container(cid).resume();
    }

    void update(String cid, LinuxResources resources) {
        container(cid).update(resources);
    }

    /**
     * GetVolumeStats of a guest path at or below a mount this agent made for the pod: the sandbox's and the
     * containers' storages, and the shared folder (where virtio-fs volumes are) once the sandbox exists.
     */
    VolumeStatsResponse volumeStats(String guestPath) {
        List<Path> roots = new ArrayList<>();
        synchronized (lifecycle) {
            if (created) {
                roots.add(cfg.sharedDir());
            }
            roots.addAll(sandboxMounts);
            containers.values().forEach(c -> roots.addAll(c.mounts));
        }
        return VolumeStats.of(guestPath, roots);
    }

    StatsContainerResponse stats(String cid) {
        Container c = container(cid);
        return StatsContainerResponse.newBuilder().setCgroupStats(cgroups.stats(c.cgroupsPath)).build();
    }

    // ---- processes

    void exec(ExecProcessRequest req) {
        String eid = req.getExecId();
        requireId("exec_id", eid);
        if (!req.hasProcess()) {
            throw AgentException.invalid("process is missing");
        }
        refusePassfd(req.getStdinPort(), req.getStdoutPort(), req.getStderrPort());
        ObjectNode json = OciProcess.process(req.getProcess(), req.getStringUser(), "process");
        container(req.getContainerId()).exec(eid, json, req.getProcess().getTerminal());
    }

    void signal(String cid, String eid, int sig) {
        if (sig < 0 || sig > 64) {
            throw AgentException.invalid("signal " + sig + " is not a signal number");
        }
        Container c = container(cid);
        AgentProcess p = c.process(eid);
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
            // No exec id: every process of the container; the init's own id: just the init.
            c.kill(eid.isEmpty(), sig == 15 && !p.catches(sig) ? 9 : sig);
        } else {
            Spawner.kill(p.pid(), sig);
        }
    }

    int waitProcess(String cid, String eid) {
        AgentProcess p = container(cid).process(eid);
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

    int writeStdin(String cid, String eid, ByteString data) {
        AgentProcess p = container(cid).process(eid);
        try {
            return p.writeStdin(data);
        } catch (IOException e) {
            throw AgentException.internal("write stdin: " + e.getMessage(), e);
        }
    }

    void closeStdin(String cid, String eid) {
        try {
            container(cid).process(eid).closeStdin();
        } catch (IOException e) {
            throw AgentException.internal("close stdin: " + e.getMessage(), e);
        }
    }

    void resize(String cid, String eid, int rows, int cols) {
        container(cid).process(eid).resize(rows, cols);
    }

    /** Some output, blocking until there is any; null at end of stream. */
    ByteString read(String cid, String eid, int len, boolean stdout) {
        AgentProcess p = container(cid).process(eid);
        int max = len <= 0 ? DEFAULT_READ : Math.min(len, MAX_READ);
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
}
