// Runs the sketch on a PC: Serial is stdin/stdout (a pty in the tests), pins are
// memory; the guard reads closed unless CELLCTL_GUARD_OPEN is set; the platen
// reads 20 degC.
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "Arduino.h"

void setup();
void loop();

HostSerial Serial;
static int pins[32];
static unsigned char inbuf[512];
static int inLen = 0, inPos = 0;

unsigned long millis() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (unsigned long)(ts.tv_sec * 1000UL + ts.tv_nsec / 1000000UL);
}
void pinMode(uint8_t, uint8_t) {}
void digitalWrite(uint8_t pin, uint8_t value) { pins[pin] = value; }
int digitalRead(uint8_t) { return getenv("CELLCTL_GUARD_OPEN") ? HIGH : LOW; }
int analogRead(uint8_t) { return 51; }  // about 20 degC

void HostSerial::begin(unsigned long) {}
int HostSerial::available() {
  if (inPos < inLen) return inLen - inPos;
  struct pollfd p = {0, POLLIN, 0};
  if (poll(&p, 1, 1) > 0) {
    ssize_t n = ::read(0, inbuf, sizeof inbuf);
    if (n <= 0) exit(0);
    inLen = (int)n;
    inPos = 0;
  }
  return inLen - inPos;
}
int HostSerial::read() { return available() > 0 ? inbuf[inPos++] : -1; }
void HostSerial::print(const char *s) { (void)!::write(1, s, strlen(s)); }
void HostSerial::print(char c) { (void)!::write(1, &c, 1); }

int main() {
  setup();
  for (;;) loop();
}
