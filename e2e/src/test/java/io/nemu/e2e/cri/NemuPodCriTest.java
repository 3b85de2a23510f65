package io.nemu.e2e.cri;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.nemu.e2e.support.CriEnv;

/** The CRI pod suite with handler nemu (RuntimeClass nemu): the pod runs in one sandbox VM. */
class NemuPodCriTest extends PodCriTest {
    @Override
    String handler() {
        return CriEnv.NEMU;
    }

    @Override
    boolean ownKernel() {
        return true;
    }

    @Override
    String bridge() {
        return "nemu-cni1";
    }

    @Override
    String subnet() {
        return "10.217.72.0/24";
    }

    @Override
    void precondition() {
        assumeTrue(CriEnv.guestImageBuilt(), "no guest image in packaging/target/nemu/share/guest (nemu image build)");
    }
}
