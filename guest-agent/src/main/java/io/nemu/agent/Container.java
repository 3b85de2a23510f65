package io.nemu.agent;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A container the agent created with crun, and what it set up for it. */
final class Container {

    enum State { CREATED, RUNNING, PAUSED }

    final String id;
    final Path bundle;
    final String cgroupsPath;
    /** Mounts to undo on removal, in the order they were made. */
    final List<Path> mounts;
    final AgentProcess init;
    /** The init's exec id as the shim names it (Kata: the container id). */
    final String initExecId;
    final Map<String, AgentProcess> execs = new ConcurrentHashMap<>();
    volatile State state = State.CREATED;
    volatile AutoCloseable oomWatch;
    private int execFiles;

    Container(String id, String initExecId, Path bundle, String cgroupsPath, List<Path> mounts, AgentProcess init) {
        this.initExecId = initExecId.isEmpty() ? id : initExecId;
        this.id = id;
        this.bundle = bundle;
        this.cgroupsPath = cgroupsPath;
        this.mounts = mounts;
        this.init = init;
    }

    synchronized int nextExecFile() {
        return ++execFiles;
    }

    Path log() {
        return bundle.resolve("crun.log");
    }
}
