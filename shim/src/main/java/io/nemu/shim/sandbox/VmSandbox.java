package io.nemu.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Any;
import com.google.protobuf.Message;
import io.grpc.Status;
import io.nemu.contract.GuestContract;
import io.nemu.proto.containerd.types.Mount;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.Storage;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.shim.agent.AgentClient;
import io.nemu.shim.agent.Stdio;
import io.nemu.shim.cgroup.SandboxCgroup;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.network.PodNetwork;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.oci.JsonToProto;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.PrivateFiles;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import io.nemu.vmm.VmException;
import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.process.VcpuWait;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A pod's VM and what goes with it: the VM (vmm) with virtiofsd exporting the {@link SharedFs}, the
 * {@link AgentClient} to the agent inside, and the pod's network. {@link #boot} brings them up in that
 * order, {@link #close} takes them down in reverse; each task call in between is composed from them
 * (a container's rootfs and host paths are shared first, then its OCI spec goes to the agent).
 */
public final class VmSandbox implements Sandbox {
    private static final Logger log = LoggerFactory.getLogger(VmSandbox.class);
    /** Console lines logged when the sandbox dies (a kernel panic's report fits). */
    private static final int CONSOLE_LINES = 40;
    /** How far back a panic's first line is looked for (CI saw a dump of 44 lines after it). */
    private static final int PANIC_LINES = 400;
    /** How long one dial of the agent may wait for the guest to accept, before the boot watch is asked again. */
    private static final Duration DIAL_SLICE = Duration.ofSeconds(2);
    /** The pod's /dev/shm in the guest: a tmpfs of CRI's default size, world-writable as on the host. */
    private static final List<String> POD_SHM_OPTIONS = List.of("nosuid", "nodev", "noexec", "mode=1777",
            "size=67108864");

    private final String sandboxId;
    private final SandboxPaths paths;
    private final Vm vm;
    private final SharedFs sharedFs;
    /** The pod's NICs (tcfilter taps in its netns), or null without a pod network. */
    private final PodNetwork network;
    /** The sandbox's cgroup on the host (sandbox_cgroup_only), or null. */
    private final SandboxCgroup cgroup;
    /** Set once the agent answered; null while booting. */
    private AgentClient agent;
    /** The guest console copied into the shim's log ([agent.kata] enable_debug), or null. */
    private GuestConsoleLog guestLog;
    /** The VM's size as its containers' limits want it; null while booting. */
    private VmResources resources;
    /** Containers' disks, hot-added; null while booting. */
    private BlockVolumes blockVolumes;
    /** The containers' host paths and where the guest reaches them (direct-volume stats). */
    private final GuestVolumes volumes = new GuestVolumes();
    /** Watches the booted sandbox's processes and agent; null while booting. */
    private volatile SandboxWatch watch;
    private boolean closed;

    private VmSandbox(String sandboxId, SandboxPaths paths, Vm vm, SharedFs sharedFs, PodNetwork network,
                      SandboxCgroup cgroup) {
        this.sandboxId = sandboxId;
        this.paths = paths;
        this.vm = vm;
        this.sharedFs = sharedFs;
        this.network = network;
        this.cgroup = cgroup;
    }

    /**
     * Boots the sandbox of a pod's first task: the VM sized by the configuration and the pod's annotations
     * ({@link PodSizing}), with a NIC per interface of the spec's network namespace, named after the spec's
     * hostname; then the agent's CreateSandbox. A failure leaves nothing behind. {@code hostAgent}: the
     * daemon's test hook (an agent on this host socket instead of the guest's), else null.
     */
    public static VmSandbox boot(String sandboxId, SandboxPaths paths, RuntimeConfig cfg, Path hostAgent,
                                 Bundle bundle, Listener listener) {
        containerSpec(sandboxId, bundle); // a wrong-typed spec fails before anything is started
        VmLimits.checkSandbox(sandboxId, bundle);
        PodSizing size;
        try {
            size = PodSizing.of(cfg.hypervisor(), bundle.annotations());
        } catch (PodSizing.BadAnnotation e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "sandbox " + sandboxId + ": " + e.getMessage(), e);
        }
        Path netns = PodNetwork.netnsOf(bundle.spec(), sandboxId).orElse(null);
        String hostname = bundle.spec().path("hostname").asText("");
        RuntimeConfig.Hypervisor h = cfg.hypervisor();
        boolean virtioFs = h.sharedFs() == RuntimeConfig.SharedFs.VIRTIO_FS;
        SharedFs sharedFs = new SharedFs(paths);
        VmSandbox sb = null;
        PodNetwork net = null;
        SandboxCgroup cg = null;
        try {
            SandboxVmConfig base = SandboxVmConfig.of(cfg, paths, size);
            VmConfig.Builder vc = base.builder();
            PrivateFiles.directories(paths.state());
            PrivateFiles.directories(paths.shared());
            if (virtioFs) {
                SharedFs.prepare(paths.shared());
            }
            net = netns == null ? null : PodNetwork.attach(netns, paths.state(), vc).orElse(null);
            // Templating: the same VM with the template's device set (serial agent channel, 9p, as many NICs),
            // started as a clone.
            VmConfig clone = null;
            if (cfg.factory().enableTemplate()) {
                String why = SandboxTemplate.unclonable(h);
                if (why != null) {
                    log.info("sandbox {} boots normally: {}", sandboxId, why);
                } else {
                    clone = SandboxTemplate.cloneOf(sandboxId, SandboxTemplate.store(cfg, paths), base.templated(),
                            base.imageId(), cfg.factory().cloneTcgTbSizeMib()).orElse(null);
                }
            }
            // The daemon serves other pods: it stays out, and QEMU and virtiofsd are moved in as each is spawned
            // (what they touched before the move stays charged to the daemon's cgroup: a few MiB at most).
            cg = cfg.runtime().sandboxCgroupOnly() ? enterCgroup(sandboxId, bundle, paths) : null;
            SandboxCgroup joined = cg;
            List<String> notMoved = new CopyOnWriteArrayList<>();
            Vm.Observer observer = new Vm.Observer() {
                @Override
                public void virtiofsdStarted(long pid) {
                    writePid(paths, "virtiofsd", pid);
                    adopt(joined, "virtiofsd", pid, notMoved);
                }

                @Override
                public void qemuStarted(long pid) {
                    writePid(paths, "qemu", pid);
                    adopt(joined, "QEMU", pid, notMoved);
                }
            };
            Vm vm = new Vm(clone != null ? clone : vc.build(), observer);
            sb = new VmSandbox(sandboxId, paths, vm, sharedFs, net, cg);
            SandboxRecord.starting(sandboxId, bundle.annotations(), h.machineType().name(), size, cfg.source(),
                    cfg.agent().debugConsoleEnabled()).write(paths.state());
            log.info("booting VM for sandbox {} ({} vCPUs, {} MiB: {}): {}", sandboxId, size.vcpus(), size.memoryMib(),
                    size.why(), vm.config());
            long t0 = System.nanoTime();
            try {
                vm.start();
            } catch (VmException e) {
                if (clone == null) {
                    throw e;
                }
                log.warn("sandbox {} boots normally: restoring the template failed: {}", sandboxId, e.getMessage());
                clone = null;
                notMoved.clear();
                vm = new Vm(vc.build(), observer);
                sb = new VmSandbox(sandboxId, paths, vm, sharedFs, net, cg);
                vm.start();
            }
            if (!notMoved.isEmpty()) {
                throw new IOException(String.join("; ", notMoved));
            }
            long started = System.nanoTime();
            if (cfg.agent().enableDebug()) {
                sb.guestLog = GuestConsoleLog.start(sandboxId, vm.consoleLog());
            }
            log.info("QEMU pid {} up ({}) in {} ms; dialing the agent", vm.pid(), vm.accelerator(),
                    (started - t0) / 1_000_000);
            try (BootWatch watch = new BootWatch(sandboxId, vm)) {
                sb.agent = AgentClient.connect(sandboxId, sb.dialer(hostAgent, watch), cfg.agent().dialTimeout(),
                        AgentClient.CALL_TIMEOUT);
            }
            if (clone != null) {
                SandboxTemplate.refresh(sandboxId, sb.agent);
            }
            sb.createSandbox(hostname, virtioFs, clone != null, listener);
            VmSandbox booted = sb;
            sb.resources = VmResources.of(sandboxId, size, h, vm, booted.agent::onlineCpuMem);
            sb.blockVolumes = BlockVolumes.of(sandboxId, h, vm);
            sb.watch = SandboxWatch.start(sandboxId, vm.fault(), booted.agent::check,
                    cfg.agent().healthCheckInterval(), cfg.agent().healthCheckTimeout(),
                    cause -> booted.died(cause, listener));
            log.info("sandbox {} ready: agent answered {} ms after QEMU started", sandboxId,
                    (System.nanoTime() - started) / 1_000_000);
            return sb;
        } catch (IOException | VmException e) {
            abandon(sb, net, cg, sharedFs, e);
            throw new TaskException(Status.Code.INTERNAL, "sandbox " + sandboxId + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            abandon(sb, net, cg, sharedFs, e);
            throw e;
        }
    }

    /** The cgroup the spec's linux.cgroupsPath names, made if missing; null when it names none. */
    private static SandboxCgroup enterCgroup(String sandboxId, Bundle bundle, SandboxPaths paths) throws IOException {
        String cgroupsPath = bundle.spec().path("linux").path("cgroupsPath").asText("");
        try {
            return SandboxCgroup.enter(sandboxId, cgroupsPath, paths.state()).orElse(null);
        } catch (IllegalArgumentException e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "sandbox " + sandboxId + ": " + e.getMessage()
                    + " (sandbox_cgroup_only = true)", e);
        }
    }

    /** Moves a process the VM started into the pod's cgroup; a failure is noted and fails the boot. */
    private static void adopt(SandboxCgroup cg, String what, long pid, List<String> failures) {
        if (cg == null) {
            return;
        }
        try {
            cg.adopt(what, pid);
            // virtiofsd forks its sandboxed worker before it listens: the child was born outside.
            for (ProcessHandle child : ProcessHandle.of(pid).map(h -> h.descendants().toList()).orElse(List.of())) {
                cg.adopt(what + "'s child", child.pid());
            }
        } catch (IOException e) {
            log.error("{}", e.getMessage());
            failures.add(e.getMessage());
        }
    }

    /** Undoes a boot that failed: the sandbox if it was made, else the network, cgroup and shared folder. */
    private static void abandon(VmSandbox sb, PodNetwork net, SandboxCgroup cg, SharedFs sharedFs, Exception failure) {
        if (sb != null) {
            sb.close();
            return;
        }
        if (net != null) {
            net.tearDown().forEach(l -> log.info("{}", l));
        }
        if (cg != null) {
            cg.close();
        }
        // Nothing ran yet; the daemon's own state stays until it exits.
        try {
            sharedFs.removeAll();
        } catch (IOException cleanup) {
            failure.addSuppressed(cleanup);
        }
    }

    private static void writePid(SandboxPaths paths, String what, long pid) {
        try {
            PidFile.of(pid).write(paths.pidFile(what));
        } catch (IOException e) {
            log.warn("cannot record {} pid {}: {}", what, pid, e.toString());
        }
    }

    /**
     * The agent on {@code agentSocket} (a host-side agent), else on the VM's channel, dialed in short slices so
     * that the connect loop asks {@code watch} between them whether the guest gave up.
     */
    private AgentClient.Dialer dialer(Path agentSocket, BootWatch watch) {
        return new AgentClient.Dialer() {
            @Override
            public TtrpcClient dial(Duration left) throws IOException {
                if (agentSocket != null) {
                    return TtrpcClient.connect(agentSocket);
                }
                return TtrpcClient.adopt(vm.agentChannel()
                        .orElseThrow(() -> new IOException("the VM has no agent channel"))
                        .dial(left.compareTo(DIAL_SLICE) < 0 ? left : DIAL_SLICE));
            }

            @Override
            public String gone() {
                return watch.gaveUp();
            }

            @Override
            public String diagnostics() {
                return "last console line: '" + watch.lastLine() + "'";
            }

            @Override
            public Duration starved() {
                return agentSocket != null || vm.exitFuture().isDone() ? Duration.ZERO : VcpuWait.of(vm.pid());
            }
        };
    }

    /**
     * A component died ({@link SandboxWatch}): say so once with the console's last lines (a panic's
     * words), release every agent call still waiting, stop the VM and take the rest down, then let the task
     * layer publish the exits. The daemon stays for containerd's delete and shutdown.
     */
    private void died(String cause, Listener listener) {
        String console = ProcessTools.tail(vm.consoleLog(), CONSOLE_LINES);
        String why = deathCause(ProcessTools.tail(vm.consoleLog(), PANIC_LINES), cause);
        log.error("sandbox {} died: {}; tearing it down. The guest console ends:\n{}", sandboxId, why, console);
        agent.abandon();
        close();
        listener.died(why);
    }

    /**
     * {@code cause}, or the guest's panic line and then {@code cause} when the console's end has one. A panic ends
     * QEMU as a reboot would (panic=1, -no-reboot): only the console tells them apart. The line heads a dump (stack,
     * registers) that can be longer than the lines logged, so {@code consoleEnd} reaches further back.
     */
    static String deathCause(String consoleEnd, String cause) {
        return consoleEnd.lines().filter(l -> l.contains("Kernel panic")).findFirst()
                .map(l -> "the guest kernel panicked (" + l.strip() + "): " + cause).orElse(cause);
    }

    /** The guest's network, then CreateSandbox with the shared folder and the pod's /dev/shm; OOM watching. */
    private void createSandbox(String hostname, boolean virtioFs, boolean cloned, Listener listener) throws IOException {
        if (network != null) {
            agent.applyNetwork(network, cloned);
        }
        // The sandbox spec's hostname (CRI sets the pod's) names the VM; else the id, cut to a host name's length.
        String name = hostname.isEmpty() ? sandboxId : hostname;
        CreateSandboxRequest.Builder req = CreateSandboxRequest.newBuilder().setSandboxId(sandboxId)
                .setHostname(name.length() > 63 ? name.substring(0, 63) : name);
        if (cloned) {
            req.addAllKernelModules(SandboxTemplate.modules()).addStorages(SandboxTemplate.guestStorage());
        } else if (virtioFs) {
            req.addStorages(SharedFs.guestStorage());
        }
        req.addStorages(Storage.newBuilder().setDriver("ephemeral").setSource("shm").setFstype("tmpfs")
                .setMountPoint(GuestContract.POD_SHM).addAllOptions(POD_SHM_OPTIONS));
        agent.createSandbox(req.build());
        agent.watchOom(listener::oom);
    }

    @Override
    public long pid() {
        return vm.pid();
    }

    @Override
    public void createContainer(String cid, Bundle bundle, List<Mount> rootfs, Stdio stdio) {
        Spec.Builder spec = containerSpec(cid, bundle);
        VmLimits.checkMounts(cid, spec);
        if (cid.equals(sandboxId)) {
            compose(cid, bundle, spec, rootfs, stdio); // the pod's own size is the VM's boot size (PodSizing)
            return;
        }
        resources.join(cid, bundle.spec().path("linux").path("resources"));
        try {
            compose(cid, bundle, spec, rootfs, stdio);
        } catch (RuntimeException e) {
            resources.leave(cid);
            throw e;
        }
    }

    /** The container's rootfs and host paths shared, then its spec to the agent; undone on failure. */
    private void compose(String cid, Bundle bundle, Spec.Builder spec, List<Mount> rootfs, Stdio stdio) {
        try {
            sharedFs.mountRootfs(cid, bundle, rootfs);
        } catch (IOException e) {
            sharedFs.removeContainer(cid);
            throw new TaskException(Status.Code.INTERNAL, "rootfs of " + cid + ": " + e.getMessage(), e);
        }
        spec.clearHooks();
        spec.getRootBuilder().setPath(GuestContract.containerRootfs(cid));
        Map<String, String> hostByDestination = new HashMap<>();
        spec.getMountsList().forEach(m -> hostByDestination.put(m.getDestination(), m.getSource()));
        BlockVolumes.Attached disks;
        try {
            disks = blockVolumes.attach(cid, spec);
        } catch (RuntimeException e) {
            sharedFs.removeContainer(cid);
            throw e;
        }
        List<HostMounts.Share> shares;
        try {
            shares = sharedFs.shareHostMounts(cid, spec);
        } catch (IOException e) {
            sharedFs.removeContainer(cid);
            blockVolumes.detach(cid);
            throw new TaskException(Status.Code.INVALID_ARGUMENT, "mounts of " + cid + ": " + e.getMessage(), e);
        }
        disks.restoreInto(spec);
        try {
            agent.createContainer(cid, spec.build(), disks.storages(), stdio);
        } catch (RuntimeException e) {
            sharedFs.removeContainer(cid);
            blockVolumes.detach(cid);
            throw e;
        }
        for (io.nemu.proto.kata.Mount m : disks.mounts()) {
            String host = hostByDestination.get(m.getDestination());
            if (host != null) {
                volumes.add(cid, host, m.getSource());
            }
        }
        for (HostMounts.Share share : shares) {
            volumes.add(cid, share.source(), GuestContract.containerMount(cid, share.name()));
        }
    }

    /** The bundle's config.json as Kata's spec; a value of the wrong type is an invalid argument naming it. */
    static Spec.Builder containerSpec(String cid, Bundle bundle) {
        return toProto(bundle.spec(), Spec.newBuilder(), "", "config.json of " + cid);
    }

    /** An exec's OCI process spec as the agent's Process. */
    static io.nemu.proto.kata.Process execSpec(String cid, String execId, byte[] json) {
        return fromJson(json, io.nemu.proto.kata.Process.newBuilder(), "process", "exec " + execId + " of " + cid)
                .build();
    }

    /** An update's OCI LinuxResources as the agent's. */
    static LinuxResources resources(String cid, JsonNode json) {
        return toProto(json, LinuxResources.newBuilder(), "linux.resources", "update of " + cid).build();
    }

    /** OCI JSON (a Process, LinuxResources) as the agent's message; {@code root} is its path in the spec. */
    private static <B extends Message.Builder> B fromJson(byte[] json, B into, String root, String what) {
        return toProto(readJson(json, what), into, root, what);
    }

    private static JsonNode readJson(byte[] json, String what) {
        try {
            return Bundle.json().readTree(json);
        } catch (IOException e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, what + " is not JSON: " + e.getMessage());
        }
    }

    /** Keys the agent's message has no field for are skipped (logged); a wrong-typed value fails the call. */
    private static <B extends Message.Builder> B toProto(JsonNode json, B into, String root, String what) {
        try {
            JsonToProto.merge(json, into, root, k -> log.debug("{}: key {} not passed to the agent", what, k));
        } catch (JsonToProto.Mismatch e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, what + ": " + e.getMessage(), e);
        }
        return into;
    }

    @Override
    public CompletableFuture<Integer> start(String cid, String execId) {
        return agent.start(cid, execId);
    }

    @Override
    public void exec(String cid, String execId, byte[] processJson, Stdio stdio) {
        agent.addExec(cid, execId, execSpec(cid, execId, processJson), stdio);
    }

    @Override
    public void signal(String cid, String execId, int signal, boolean all) {
        agent.signal(cid, execId, signal, all);
    }

    @Override
    public void resizePty(String cid, String execId, int width, int height) {
        agent.resizePty(cid, execId, width, height);
    }

    @Override
    public void closeStdin(String cid, String execId) {
        agent.closeStdin(cid, execId);
    }

    @Override
    public void pause(String cid) {
        agent.pause(cid);
    }

    @Override
    public void resume(String cid) {
        agent.resume(cid);
    }

    @Override
    public Any stats(String cid) {
        return agent.stats(cid);
    }

    @Override
    public void update(String cid, Any update) {
        JsonNode json = readJson(update.getValue().toByteArray(), "update of " + cid);
        LinuxResources r = resources(cid, json);
        resources.update(cid, json, () -> agent.update(cid, r));
    }

    @Override
    public List<Integer> pids(String cid) {
        // The agent API has no process list: report the VM, as Kata does.
        return List.of((int) vm.pid());
    }

    @Override
    public synchronized void removeContainer(String cid) {
        try {
            agent.removeContainer(cid);
        } finally {
            volumes.removeContainer(cid);
            sharedFs.removeContainer(cid);
            blockVolumes.detach(cid);
        }
        resources.leave(cid);
    }

    @Override
    public Optional<GuestVolumes.Volume> volume(String hostPath) {
        return volumes.find(hostPath);
    }

    @Override
    public VolumeStatsResponse volumeStats(String guestPath) {
        return agent.volumeStats(guestPath);
    }

    @Override
    public void removeExec(String cid, String execId) {
        agent.removeExec(cid, execId);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        SandboxWatch w = watch;
        if (w != null) {
            w.close(); // from here on, QEMU's and virtiofsd's exits are the ones asked for
        }
        if (agent != null) {
            agent.close();
        }
        log.info("stopping VM of sandbox {}", sandboxId);
        long t0 = System.nanoTime();
        // Nothing in the guest outlives the sandbox: no ACPI power-off dance, QMP quit at once (as Kata).
        vm.stop(Duration.ZERO);
        log.info("VM of sandbox {} stopped in {} ms", sandboxId, (System.nanoTime() - t0) / 1_000_000);
        if (guestLog != null) {
            guestLog.close();
        }
        if (network != null) {
            network.tearDown().forEach(l -> log.info("{}", l));
        }
        try {
            SandboxRecord.remove(paths.state());
            sharedFs.removeAll();
            Files.deleteIfExists(paths.pidFile("qemu"));
            Files.deleteIfExists(paths.pidFile("virtiofsd"));
        } catch (IOException e) {
            log.error("sandbox {}: {}", sandboxId, e.getMessage());
        }
        // Last: QEMU and virtiofsd are gone, and so are the mount and ip commands run in the cgroup.
        if (cgroup != null) {
            cgroup.close();
        }
    }
}
