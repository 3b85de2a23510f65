package io.nemu.agent;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.nemu.proto.kata.LinuxResources;
import java.util.Locale;

/**
 * Where a container is in its life. Every action is a method of the state: a legal one acts (through the
 * container) and returns the next state, the others refuse with FAILED_PRECONDITION, and a removed container
 * answers NOT_FOUND to everything. {@link Container} calls these under its lock, so that check, act and
 * transition are one step (as containerd's pkg/process init_state.go).
 *
 * <pre>
 * Created --start--> Running --pause--> Paused --resume--> Running
 * Created, Running, Paused --init exits--> Stopped
 * any but Removed --remove--> Removed
 * </pre>
 */
sealed interface ContainerState {

    /** As errors show it: CREATED, RUNNING, PAUSED, STOPPED, REMOVED. */
    default String name() {
        return getClass().getSimpleName().toUpperCase(Locale.ROOT);
    }

    default ContainerState start(Container c) {
        throw wrong(c, "CREATED");
    }

    default ContainerState pause(Container c) {
        throw wrong(c, "RUNNING");
    }

    default ContainerState resume(Container c) {
        throw wrong(c, "PAUSED");
    }

    /** Runs a new process in the container; a paused one too, as the Kata agent lets crun decide. */
    default ContainerState exec(Container c, String execId, ObjectNode process, boolean terminal) {
        c.spawnExec(execId, process, terminal);
        return this;
    }

    /** Signals the init, or with {@code all} every process of the container. */
    default ContainerState kill(Container c, boolean all, int sig) {
        c.crunKill(all, sig);
        return this;
    }

    default ContainerState update(Container c, LinuxResources resources) {
        c.crunUpdate(resources);
        return this;
    }

    /** Stops what is left of it and undoes its bundle and mounts. */
    default ContainerState remove(Container c, int timeoutSeconds) {
        c.tearDown(timeoutSeconds);
        return new Removed();
    }

    /** The init process has exited. */
    default ContainerState initExited() {
        return new Stopped();
    }

    private AgentException wrong(Container c, String expected) {
        return AgentException.precondition("container '" + c.id + "' is " + name() + ", not " + expected);
    }

    private static AgentException notRunning(Container c) {
        return AgentException.precondition("container '" + c.id + "' is not running");
    }

    /** crun create is done: the init waits to be started. */
    record Created() implements ContainerState {
        @Override
        public ContainerState start(Container c) {
            return c.crun("start", new Running());
        }

        @Override
        public ContainerState exec(Container c, String execId, ObjectNode process, boolean terminal) {
            throw notRunning(c);
        }
    }

    record Running() implements ContainerState {
        @Override
        public ContainerState pause(Container c) {
            return c.crun("pause", new Paused());
        }
    }

    /** Frozen by crun pause. */
    record Paused() implements ContainerState {
        @Override
        public ContainerState resume(Container c) {
            return c.crun("resume", new Running());
        }
    }

    /** The init has exited; the container waits for its removal. */
    record Stopped() implements ContainerState {
        @Override
        public ContainerState exec(Container c, String execId, ObjectNode process, boolean terminal) {
            throw notRunning(c);
        }

        @Override
        public ContainerState initExited() {
            return this;
        }
    }

    /** Gone: the agent no longer knows it. */
    record Removed() implements ContainerState {
        private AgentException gone(Container c) {
            return AgentException.notFound("container '" + c.id + "' not found");
        }

        @Override
        public ContainerState start(Container c) {
            throw gone(c);
        }

        @Override
        public ContainerState pause(Container c) {
            throw gone(c);
        }

        @Override
        public ContainerState resume(Container c) {
            throw gone(c);
        }

        @Override
        public ContainerState exec(Container c, String execId, ObjectNode process, boolean terminal) {
            throw gone(c);
        }

        @Override
        public ContainerState kill(Container c, boolean all, int sig) {
            throw gone(c);
        }

        @Override
        public ContainerState update(Container c, LinuxResources resources) {
            throw gone(c);
        }

        @Override
        public ContainerState remove(Container c, int timeoutSeconds) {
            throw gone(c);
        }

        @Override
        public ContainerState initExited() {
            return this;
        }
    }
}
