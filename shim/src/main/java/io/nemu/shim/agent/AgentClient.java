package io.nemu.shim.agent;

import com.google.protobuf.Any;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.containerd.cgroups.v1.CPUStat;
import io.nemu.proto.containerd.cgroups.v1.CPUUsage;
import io.nemu.proto.containerd.cgroups.v1.MemoryEntry;
import io.nemu.proto.containerd.cgroups.v1.MemoryStat;
import io.nemu.proto.containerd.cgroups.v1.Metrics;
import io.nemu.proto.containerd.cgroups.v1.PidsStat;
import io.nemu.proto.containerd.cgroups.v1.Throttle;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.CgroupStats;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.MemoryData;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.ResumeContainerRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.TtyWinResizeRequest;
import io.nemu.proto.kata.OnlineCPUMemRequest;
import io.nemu.proto.kata.Storage;
import io.nemu.proto.kata.UpdateContainerRequest;
import io.nemu.proto.kata.VolumeStatsRequest;
import io.nemu.proto.kata.VolumeStatsResponse;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.network.PodNetwork;
import io.nemu.ttrpc.TtrpcClient;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shim's connection to the Kata agent of one sandbox: dials it until Health says SERVING, gives every
 * call a deadline and maps the agent's errors to containerd's codes. It keeps the agent's view of
 * processes (the init process's exec id is the container id, as in Kata), each process's stdio copy
 * ({@link ProcessIo}) and the thread that turns the agent's OOM events into callbacks.
 */
public final class AgentClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AgentClient.class);
    /** Deadline of every call but the ones that wait for a process or an event. */
    public static final Duration CALL_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration HEALTH_CHECK = Duration.ofSeconds(30);
    private static final Duration DESTROY = Duration.ofSeconds(5);
    private static final Duration DRAIN = Duration.ofSeconds(60);

    /** Where the agent is reached: the VM's channel, or a host socket in development and tests. */
    public interface Dialer {
        /** Opens a connection within {@code left}. */
        TtrpcClient dial(Duration left) throws IOException;

        /** Why the agent can no longer answer (its VM exited), or null while it may. */
        default String gone() {
            return null;
        }

        /** What a dial timeout's message ends with (the guest console's last line). */
        default String diagnostics() {
            return "";
        }

        /** How long, in all, the VM so far wanted a host CPU and got none (zero where unknown). */
        default Duration starved() {
            return Duration.ZERO;
        }
    }

    private final String sandboxId;
    private final TtrpcClient client;
    private final AgentServiceGrpc.AgentServiceBlockingStub agent;
    private final Duration callTimeout;
    private final Map<String, ProcessIo> ios = new ConcurrentHashMap<>();
    private final Map<String, ExecProcessRequest> pendingExecs = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private AgentClient(String sandboxId, TtrpcClient client, Duration callTimeout) {
        this.sandboxId = sandboxId;
        this.client = client;
        this.agent = AgentServiceGrpc.newBlockingStub(client);
        this.callTimeout = callTimeout;
    }

    /**
     * Dials (again after a failed attempt) until Health answers SERVING or {@code dialTimeout} has passed. The
     * timeout counts the time the VM could run: wall time minus the time its vCPUs waited for a host CPU
     * ({@link Dialer#starved}). A guest booting on a host loaded by other VMs is slow, not broken, and a runtime
     * that failed pods under a modest load would not be trusted; a guest that is stuck waits for no CPU and
     * times out as before.
     */
    public static AgentClient connect(String sandboxId, Dialer dialer, Duration dialTimeout, Duration callTimeout)
            throws IOException {
        DialClock clock = new DialClock(dialer, dialTimeout);
        TtrpcClient client = null;
        String last = "no answer";
        try {
            while (clock.leftNanos() > 0) {
                String gone = dialer.gone();
                if (gone != null) {
                    throw new IOException(gone);
                }
                try {
                    if (client == null || client.isClosed()) {
                        client = dialer.dial(Duration.ofNanos(Math.max(1, clock.leftNanos())));
                    }
                    // The first call runs cold code in a guest JVM that may share a loaded host's CPUs under
                    // TCG: give it the time left (at most Kata's 30 s check timeout), not a short retry slice.
                    long checkMs = Math.max(2000, Math.min(HEALTH_CHECK.toMillis(), clock.leftNanos() / 1_000_000));
                    HealthCheckResponse r = HealthGrpc.newBlockingStub(client)
                            .withDeadlineAfter(checkMs, TimeUnit.MILLISECONDS).check(CheckRequest.getDefaultInstance());
                    if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                        Duration calls = clock.scaled(callTimeout);
                        log.info("agent of sandbox {} is serving ({}); agent calls get {} s", sandboxId, clock,
                                calls.toSeconds());
                        AgentClient connected = new AgentClient(sandboxId, client, calls);
                        client = null;
                        return connected;
                    }
                    last = "agent health " + r.getStatus();
                } catch (IOException | StatusRuntimeException e) {
                    last = e.getMessage();
                    if (client != null && client.isClosed()) {
                        client.close();
                        client = null;
                    }
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while dialing the agent");
                }
            }
        } finally {
            if (client != null) {
                client.close();
            }
        }
        throw new IOException("the guest agent did not answer within " + dialTimeout.toSeconds()
                + " s (agent.kata.dial_timeout; " + clock + "): " + last + "; " + dialer.diagnostics());
    }

    /** The stub for one call, with its deadline; refused once the connection is closed. */
    private AgentServiceGrpc.AgentServiceBlockingStub call() {
        if (closed) {
            throw TaskException.precondition("sandbox " + sandboxId + " has no agent connection");
        }
        return agent.withDeadlineAfter(callTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The agent's failure as containerd's code: UNKNOWN and UNAVAILABLE become INTERNAL. */
    static TaskException agentError(String what, StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        if (code == Status.Code.UNKNOWN || code == Status.Code.UNAVAILABLE) {
            code = Status.Code.INTERNAL;
        }
        return new TaskException(code, "agent: " + what + ": " + e.getStatus().getDescription(), e);
    }

    private static String key(String cid, String execId) {
        return cid + "\0" + execId;
    }

    /** The agent's exec id of a process: the container id for the init process (as Kata does). */
    static String agentExecId(String cid, String execId) {
        return execId == null || execId.isEmpty() ? cid : execId;
    }

    // ---- the sandbox

    /**
     * The pod's interfaces, routes and neighbours in the guest: after Health, before CreateSandbox. {@code cloned}:
     * the VM is a template's clone, its NICs still carry the template's MACs.
     */
    public void applyNetwork(PodNetwork net, boolean cloned) throws IOException {
        // Half a call's deadline each (30 s at the default 60), stretched like the calls on a loaded host.
        GuestNetwork.apply(net, cloned, agent, callTimeout.dividedBy(2));
    }

    /** ReseedRandomDev: the guest's RNG gets {@code data} (a clone's own entropy). */
    public void reseedRandomDev(com.google.protobuf.ByteString data) {
        call().reseedRandomDev(io.nemu.proto.kata.ReseedRandomDevRequest.newBuilder().setData(data).build());
    }

    /** SetGuestDateTime: the guest's clock to the given time (a clone's clock stopped when its template was saved). */
    public void setGuestDateTime(long sec, long usec) {
        call().setGuestDateTime(io.nemu.proto.kata.SetGuestDateTimeRequest.newBuilder().setSec(sec).setUsec(usec).build());
    }

    /** CreateSandbox; the agent's error is passed on as it is. */
    public void createSandbox(CreateSandboxRequest req) {
        call().createSandbox(req);
    }

    /** Hands each container id the agent's GetOOMEvent returns to {@code oom}, until closed. */
    public void watchOom(Consumer<String> oom) {
        Thread t = new Thread(() -> {
            while (!closed) {
                try {
                    String cid = agent.getOOMEvent(GetOOMEventRequest.getDefaultInstance()).getContainerId();
                    if (!cid.isEmpty()) {
                        oom.accept(cid);
                    }
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() == Status.Code.UNIMPLEMENTED || closed) {
                        return;
                    }
                    try {
                        Thread.sleep(1000);
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            }
        }, "oom-" + sandboxId);
        t.setDaemon(true);
        t.start();
    }

    /** Health's Check within {@code deadline}; throws unless the agent answers SERVING. */
    public void check(Duration deadline) {
        HealthCheckResponse r = HealthGrpc.newBlockingStub(client)
                .withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).check(CheckRequest.getDefaultInstance());
        if (r.getStatus() != HealthCheckResponse.ServingStatus.SERVING) {
            throw new IllegalStateException("agent health " + r.getStatus());
        }
    }

    /**
     * Closes the connection without a word to the agent (its sandbox died): the calls that block by nature
     * (WaitProcess, ReadStdout/ReadStderr, GetOOMEvent) end at once with an error. Idempotent.
     */
    public synchronized void abandon() {
        if (closed) {
            return;
        }
        closed = true;
        client.close();
    }

    /** DestroySandbox (briefly: the VM goes next anyway), then the connection closes. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        try {
            agent.withDeadlineAfter(DESTROY.toMillis(), TimeUnit.MILLISECONDS)
                    .destroySandbox(DestroySandboxRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            log.debug("DestroySandbox: {}", e.getStatus());
        }
        closed = true;
        client.close();
    }

    // ---- containers and processes

    public void createContainer(String cid, Spec spec, Stdio stdio) {
        createContainer(cid, spec, List.of(), stdio);
    }

    /** With storages the agent mounts for this container first (hot-added disks), unmounted when it goes. */
    public void createContainer(String cid, Spec spec, List<Storage> storages, Stdio stdio) {
        try {
            call().createContainer(CreateContainerRequest.newBuilder().setContainerId(cid).setExecId(cid)
                    .setOCI(spec).addAllStorages(storages).build());
        } catch (StatusRuntimeException e) {
            throw agentError("CreateContainer " + cid, e);
        }
        ios.put(key(cid, ""), new ProcessIo(agent, cid, cid, stdio));
    }

    /** Remembers an exec until it is started (the agent creates and starts it in one call). */
    public void addExec(String cid, String execId, io.nemu.proto.kata.Process process, Stdio stdio) {
        pendingExecs.put(key(cid, execId), ExecProcessRequest.newBuilder().setContainerId(cid).setExecId(execId)
                .setProcess(process).build());
        ios.put(key(cid, execId), new ProcessIo(agent, cid, execId, stdio));
    }

    /**
     * Starts a container's init process (empty {@code execId}) or an added exec. The future completes with
     * the exit status once the process has ended and its output has been copied out.
     */
    public CompletableFuture<Integer> start(String cid, String execId) {
        String eid = agentExecId(cid, execId);
        ProcessIo pio = ios.get(key(cid, execId));
        try {
            if (execId.isEmpty()) {
                call().startContainer(StartContainerRequest.newBuilder().setContainerId(cid).build());
            } else {
                ExecProcessRequest req = pendingExecs.remove(key(cid, execId));
                if (req == null) {
                    throw TaskException.notFound("exec " + execId);
                }
                call().execProcess(req);
            }
        } catch (StatusRuntimeException e) {
            throw agentError("start " + cid + "/" + eid, e);
        }
        if (pio != null) {
            pio.start();
        }
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread waiter = new Thread(() -> {
            try {
                // No deadline: the process may run for as long as it likes.
                int status = agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId(cid).setExecId(eid)
                        .build()).getStatus();
                if (pio != null) {
                    // All output reaches containerd before the exit is published; a stream the guest
                    // never ends (a daemonized child holding it) must not hold the exit forever.
                    long t0 = System.nanoTime();
                    pio.awaitDrained(DRAIN);
                    long ms = (System.nanoTime() - t0) / 1_000_000;
                    if (ms > 1000) {
                        log.info("output of {}/{} drained {} ms after its exit", cid, eid, ms);
                    }
                }
                exit.complete(status);
            } catch (RuntimeException e) {
                exit.completeExceptionally(e);
            }
        }, "wait-" + eid);
        waiter.setDaemon(true);
        waiter.start();
        return exit;
    }

    /** SignalProcess; {@code all} on the init process signals every process of the container. */
    public void signal(String cid, String execId, int signal, boolean all) {
        String eid = all && execId.isEmpty() ? "" : agentExecId(cid, execId);
        try {
            call().signalProcess(SignalProcessRequest.newBuilder().setContainerId(cid).setExecId(eid)
                    .setSignal(signal).build());
        } catch (StatusRuntimeException e) {
            throw agentError("signal " + signal + " to " + cid + "/" + eid, e);
        }
    }

    public void resizePty(String cid, String execId, int width, int height) {
        try {
            call().ttyWinResize(TtyWinResizeRequest.newBuilder().setContainerId(cid)
                    .setExecId(agentExecId(cid, execId)).setRow(height).setColumn(width).build());
        } catch (StatusRuntimeException e) {
            throw agentError("resize " + cid, e);
        }
    }

    /** containerd's CloseIO: stdin ends once what is still in its fifo has reached the guest. */
    public void closeStdin(String cid, String execId) {
        ProcessIo pio = ios.get(key(cid, execId));
        if (pio != null) {
            pio.closeIo();
        }
    }

    public void pause(String cid) {
        try {
            call().pauseContainer(PauseContainerRequest.newBuilder().setContainerId(cid).build());
        } catch (StatusRuntimeException e) {
            throw agentError("pause " + cid, e);
        }
    }

    public void resume(String cid) {
        try {
            call().resumeContainer(ResumeContainerRequest.newBuilder().setContainerId(cid).build());
        } catch (StatusRuntimeException e) {
            throw agentError("resume " + cid, e);
        }
    }

    public void update(String cid, LinuxResources resources) {
        try {
            call().updateContainer(UpdateContainerRequest.newBuilder().setContainerId(cid).setResources(resources)
                    .build());
        } catch (StatusRuntimeException e) {
            throw agentError("update " + cid, e);
        }
    }

    /**
     * OnlineCPUMem: the guest onlines hot-added vCPUs until {@code vcpus} are online (waiting for them to show
     * up), and with {@code cpuOnly} false also every offline memory block.
     */
    public void onlineCpuMem(int vcpus, boolean cpuOnly) {
        try {
            call().onlineCPUMem(OnlineCPUMemRequest.newBuilder().setWait(true).setNbCpus(vcpus).setCpuOnly(cpuOnly)
                    .build());
        } catch (StatusRuntimeException e) {
            throw agentError("online " + vcpus + " vCPUs" + (cpuOnly ? "" : " and memory"), e);
        }
    }

    /** GetVolumeStats: bytes and inodes of the file system under a volume's guest path. */
    public VolumeStatsResponse volumeStats(String guestPath) {
        try {
            return call().getVolumeStats(VolumeStatsRequest.newBuilder().setVolumeGuestPath(guestPath).build());
        } catch (StatusRuntimeException e) {
            throw agentError("volume stats of " + guestPath, e);
        }
    }

    /** The container's cgroup stats as containerd expects them: an Any of io.containerd.cgroups.v1.Metrics. */
    public Any stats(String cid) {
        CgroupStats s;
        try {
            s = call().statsContainer(StatsContainerRequest.newBuilder().setContainerId(cid).build()).getCgroupStats();
        } catch (StatusRuntimeException e) {
            throw agentError("stats of " + cid, e);
        }
        return Any.newBuilder().setTypeUrl(Metrics.getDescriptor().getFullName())
                .setValue(toMetrics(s).toByteString()).build();
    }

    /** The agent's cgroup stats in containerd's cgroup v1 Metrics. */
    static Metrics toMetrics(CgroupStats s) {
        Metrics.Builder m = Metrics.newBuilder();
        if (s.hasPidsStats()) {
            m.setPids(PidsStat.newBuilder().setCurrent(s.getPidsStats().getCurrent()).setLimit(s.getPidsStats().getLimit()));
        }
        if (s.hasCpuStats()) {
            var u = s.getCpuStats().getCpuUsage();
            var t = s.getCpuStats().getThrottlingData();
            m.setCpu(CPUStat.newBuilder().setUsage(CPUUsage.newBuilder().setTotal(u.getTotalUsage())
                    .setKernel(u.getUsageInKernelmode()).setUser(u.getUsageInUsermode()).addAllPerCpu(u.getPercpuUsageList()))
                    .setThrottling(Throttle.newBuilder().setPeriods(t.getPeriods())
                            .setThrottledPeriods(t.getThrottledPeriods()).setThrottledTime(t.getThrottledTime())));
        }
        if (s.hasMemoryStats()) {
            var ms = s.getMemoryStats();
            Map<String, Long> st = ms.getStatsMap();
            m.setMemory(MemoryStat.newBuilder().setCache(ms.getCache()).setRss(st.getOrDefault("rss", 0L))
                    .setTotalRss(st.getOrDefault("total_rss", 0L)).setTotalCache(st.getOrDefault("total_cache", 0L))
                    .setUsage(entry(ms.getUsage())).setSwap(entry(ms.getSwapUsage())).setKernel(entry(ms.getKernelUsage())));
        }
        return m.build();
    }

    private static MemoryEntry entry(MemoryData d) {
        return MemoryEntry.newBuilder().setUsage(d.getUsage()).setMax(d.getMaxUsage()).setFailcnt(d.getFailcnt())
                .setLimit(d.getLimit()).build();
    }

    /** RemoveContainer (a failure is only logged: the container goes anyway) and its processes' stdio. */
    public void removeContainer(String cid) {
        try {
            if (!closed) {
                call().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(cid).setTimeout(10).build());
            }
        } catch (StatusRuntimeException e) {
            log.warn("RemoveContainer {}: {}", cid, e.getStatus());
        } finally {
            ios.keySet().removeIf(k -> k.startsWith(cid + "\0"));
            pendingExecs.keySet().removeIf(k -> k.startsWith(cid + "\0"));
        }
    }

    /** Forgets an exec that has exited (or was never started). */
    public void removeExec(String cid, String execId) {
        ios.remove(key(cid, execId));
        pendingExecs.remove(key(cid, execId));
    }
}
