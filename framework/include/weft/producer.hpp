#pragma once
// Producer: something that writes into a transport and can be told to slow down (Twisted: IProducer,
// IPushProducer, IPullProducer in one class).

namespace weft {

/// A source of data for a consumer (a Transport). Registered with Transport::register_producer.
/// Streaming ("push") producers write on their own and are paused/resumed by the consumer around its
/// buffer watermarks. Non-streaming ("pull") producers write only when resume_producing() asks for more.
/// Contract for implementers: pause_producing() may be called from inside Transport::write() (so that a
/// producer writing in a loop sees it at once); it must only record the pause, not call back into the
/// transport. stop_producing() means no more data will ever be wanted.
class Producer {
public:
    virtual ~Producer() = default;
    /// Stop producing until resume_producing() (push producers only).
    virtual void pause_producing() {}
    /// Push: carry on producing. Pull: produce one more piece now.
    virtual void resume_producing() = 0;
    /// Stop for good; the consumer is going away.
    virtual void stop_producing() = 0;

protected:
    Producer() = default;
    /// For implementations only: producers are registered by reference, not copied through this base.
    /// @{
    Producer(const Producer&) = default;
    Producer& operator=(const Producer&) = default;
    /// @}
};

}  // namespace weft
