package io.nemu.e2e.cri;

import io.nemu.e2e.support.CriEnv;

/** The CRI pod suite with handler runc: the baseline every check must pass with. */
class RuncPodCriTest extends PodCriTest {
    @Override
    String handler() {
        return CriEnv.RUNC;
    }

    @Override
    boolean ownKernel() {
        return false;
    }

    @Override
    boolean promisesWholeOutputAtExit() {
        return false;
    }

    @Override
    String bridge() {
        return "nemu-cni0";
    }

    @Override
    String subnet() {
        return "10.217.71.0/24";
    }
}
