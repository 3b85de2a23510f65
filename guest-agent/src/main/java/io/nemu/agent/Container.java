package io.nemu.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.agent.oci.OciJson;
import io.nemu.agent.oci.OciResources;
import io.nemu.agent.storage.StorageDrivers;
import io.nemu.agent.sys.Mounts;
import io.nemu.agent.sys.Spawner;
import io.nemu.proto.kata.LinuxResources;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A container the agent created with crun, what it set up for it, and its lifecycle: each action takes the
 * container's lock, asks the {@link ContainerState} to check and act, and keeps the state it returns.
 */
final class Container {

    private static final Logger LOG = LoggerFactory.getLogger(Container.class);

    final String id;
    final Path bundle;
    final String cgroupsPath;
    /** Mounts to undo on removal, in the order they were made. */
    final List<Path> mounts;
    final AgentProcess init;
    /** The init's exec id as the shim names it (Kata: the container id). */
    final String initExecId;
    final Map<String, AgentProcess> execs = new ConcurrentHashMap<>();
    volatile AutoCloseable oomWatch;
    private final Crun crun;
    private ContainerState state = new ContainerState.Created(); // guarded by this
    private int bundleFiles; // guarded by this

    Container(String id, String initExecId, Path bundle, String cgroupsPath, List<Path> mounts, AgentProcess init,
            Crun crun) {
        this.initExecId = initExecId.isEmpty() ? id : initExecId;
        this.id = id;
        this.bundle = bundle;
        this.cgroupsPath = cgroupsPath;
        this.mounts = mounts;
        this.init = init;
        this.crun = crun;
    }

    /** crun's log for a container's bundle: its error texts. */
    static Path log(Path bundle) {
        return bundle.resolve("crun.log");
    }

    Path log() {
        return log(bundle);
    }

    // ---- the lifecycle: one lock over check, act and transition

    synchronized ContainerState state() {
        return current();
    }

    /** The state, once it has taken in an exit of the init (the reaper completes it at any time). */
    private ContainerState current() {
        if (init.exited()) {
            state = state.initExited();
        }
        return state;
    }

    synchronized void start() {
        state = current().start(this);
        LOG.info("container {} started", id);
    }

    synchronized void pause() {
        state = current().pause(this);
    }

    synchronized void resume() {
        state = current().resume(this);
    }

    synchronized void exec(String execId, ObjectNode process, boolean terminal) {
        pruneExecs();
        if (execs.containsKey(execId) || execId.equals(initExecId)) {
            throw AgentException.exists("exec id '" + execId + "' already exists in container '" + id + "'");
        }
        state = current().exec(this, execId, process, terminal);
    }

    synchronized void kill(boolean all, int sig) {
        state = current().kill(this, all, sig);
    }

    synchronized void update(LinuxResources resources) {
        state = current().update(this, resources);
    }

    synchronized void remove(int timeoutSeconds) {
        state = current().remove(this, timeoutSeconds);
    }

    // ---- what the states do

    /** Runs a crun command on this container, e.g. {@code start}; then {@code next} is its state. */
    ContainerState crun(String action, ContainerState next) {
        crun.run(log(), action, id);
        return next;
    }

    void crunKill(boolean all, int sig) {
        try {
            // every process of the container, or just the init
            if (all) {
                crun.run(log(), "kill", "--all", id, Integer.toString(sig));
            } else {
                crun.run(log(), "kill", id, Integer.toString(sig));
            }
        } catch (AgentException e) {
            if (!init.exited()) {
                throw e;
            }
        }
    }

    void crunUpdate(LinuxResources resources) {
        ObjectNode json = OciResources.resources(resources);
        Path file = bundle.resolve("update-" + ++bundleFiles + ".json");
        try {
            Files.write(file, OciJson.bytes(json));
            crun.run(log(), "update", "--resources", file.toString(), id);
        } catch (IOException e) {
            throw AgentException.internal("update " + id + ": " + e.getMessage(), e);
        } finally {
            file.toFile().delete();
        }
    }

    void spawnExec(String execId, ObjectNode process, boolean terminal) {
        int n = ++bundleFiles;
        Path procFile = bundle.resolve("exec-" + n + ".json");
        Path pidFile = bundle.resolve("exec-" + n + ".pid");
        try {
            Files.write(procFile, OciJson.bytes(process));
            AgentProcess p = crun.spawn(List.of("exec", "--detach", "--pid-file", pidFile.toString(),
                    "--process", procFile.toString()), id, execId, terminal, log(), pidFile);
            execs.put(execId, p);
            LOG.info("container {}: exec {} pid {}", id, execId, p.pid());
        } catch (RuntimeException | IOException e) {
            throw AgentException.wrap("exec in " + id, e);
        } finally {
            procFile.toFile().delete();
            pidFile.toFile().delete();
        }
    }

    /** Kills what is left, waits for every process (DEADLINE_EXCEEDED after the timeout), undoes the bundle. */
    void tearDown(int timeoutSeconds) {
        closeQuietly(oomWatch);
        crun.deleteQuietly(log(), id);
        long wait = timeoutSeconds > 0 ? timeoutSeconds : 30;
        List<AgentProcess> all = new ArrayList<>(execs.values());
        all.add(init);
        for (AgentProcess p : all) {
            if (!p.exited() && p.pid() > 0) {
                Spawner.kill(p.pid(), 9);
            }
            try {
                p.exit().get(wait, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                throw new AgentException(io.grpc.Status.Code.DEADLINE_EXCEEDED,
                        "container '" + id + "': process " + p.pid() + " still alive after " + wait + " s", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw AgentException.internal("interrupted", e);
            } catch (ExecutionException e) {
                // cannot happen: exits complete normally
            }
            p.release();
        }
        StorageDrivers.unmountAll(mounts);
        Mounts.deleteTree(bundle);
    }

    // ---- processes

    /** The init for exec id "" or the init's own id (unless an exec took that name), else that exec. */
    AgentProcess process(String execId) {
        if (execId.isEmpty() || execId.equals(initExecId) && !execs.containsKey(execId)) {
            return init;
        }
        AgentProcess p = execs.get(execId);
        if (p == null) {
            throw AgentException.notFound("exec id '" + execId + "' not found in container '" + id + "'");
        }
        return p;
    }

    /** Forgets execs that are done with (exited, waited for, output read). */
    private void pruneExecs() {
        execs.values().removeIf(p -> {
            if (p.finished()) {
                p.release();
                return true;
            }
            return false;
        });
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
}
