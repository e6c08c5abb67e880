// Just enough of the Arduino core to build the reference sketch on a PC, so the
// sketch is tested against the real driver over a pseudo-terminal.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define HIGH 1
#define LOW 0
#define INPUT 0
#define OUTPUT 1
#define INPUT_PULLUP 2
#define A0 14

unsigned long millis();
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
int digitalRead(uint8_t pin);
int analogRead(uint8_t pin);

class HostSerial {
 public:
  void begin(unsigned long baud);
  int available();
  int read();
  void print(const char *s);
  void print(char c);
};
extern HostSerial Serial;
